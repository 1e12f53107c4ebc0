"""Features that work for Chinese, English and a mix of both, computed once per message and
shared by every classifier.

A message becomes a bag of strings: word unigrams and bigrams from the spaCy tokens (jieba
segments for Chinese) and character 1-4-grams inside each whitespace-separated chunk (which
for Chinese is a whole clause, so the char grams cover what segmentation gets wrong).
They are hashed into a fixed space with no vocabulary: the featurizer is stateless, so every
model trained on it can score the same matrix, and the per-message path computes it once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import mmh3
import numpy as np
import scipy.sparse as sp

N_FEATURES = 1 << 20
# The classifiers read the opening of a message: the subject and first lines of a long email
# say what it is about (quoted history and signatures are already cut), and the cost of
# tokenizing and hashing grows with every character. 256 instead of 400 characters took ~25 %
# off a 2.5 KB email's CPU and changed no figure beyond noise (README, "Speed"); 89 % of the
# hotel reviews we evaluate on are shorter. Entities and risk rules still read the whole
# cleaned text.
WINDOW = 256
FEATURIZER_VERSION = "hash20-w12-c14-v2"  # recorded in each manifest; a mismatch refuses to load
CHAR_MIN, CHAR_MAX = 1, 4
_MASK = N_FEATURES - 1
# What follows a contrast or a summing-up ("房间小，但是很干净", "总的来说还行", "but overall
# fine") is usually the writer's verdict: its next VERDICT_SPAN words are also features of
# their own ("a:" + word), so a review that lists complaints and ends in praise can say so.
VERDICT_MARKERS = frozenset({
    "但", "但是", "可是", "不过", "却", "然而", "只是", "就是", "可惜", "总之", "总的来说", "总体",
    "总体而言", "整体", "总而言之", "综上", "but", "however", "although", "though", "overall", "yet"})
VERDICT_SPAN = 6


def analyze(words: Sequence[str], text: str) -> list[str]:
    """The feature strings of one message. `words` are its normalized tokens (lower-case, no
    punctuation) of the first WINDOW characters, `text` its cleaned text."""
    feats = ["w:" + w for w in words]
    feats += ["b:" + a + " " + b for a, b in zip(words, words[1:], strict=False)]
    span = 0
    for w in words:
        if w in VERDICT_MARKERS:
            span = VERDICT_SPAN
        elif span:
            feats.append("a:" + w)
            span -= 1
    for chunk in text[:WINDOW].lower().split():
        padded = f" {chunk} "
        n_chars = len(padded)
        for n in range(CHAR_MIN, CHAR_MAX + 1):
            feats += ["c:" + padded[i : i + n] for i in range(n_chars - n + 1)]
    return feats


def hash_features(analyzed: Iterable[list[str]]) -> sp.csr_matrix:
    """Raw counts, sublinear (1 + log tf): one long complaint should not outvote its words.

    The columns are scikit-learn's FeatureHasher's (signed MurmurHash3 of the UTF-8 string,
    seed 0, absolute value modulo the size), computed with mmh3 so that the triage workers
    need not import scikit-learn (~65 MB of RSS): models trained with either score alike.
    The whole batch is hashed in one pass and folded into columns with NumPy."""
    flat: list[str] = []
    lengths: list[int] = []
    for feats in analyzed:
        flat += feats
        lengths.append(len(feats))
    hashes = np.fromiter(map(mmh3.hash, flat), dtype=np.int64, count=len(flat))
    indices = (np.abs(hashes) & _MASK).astype(np.int32)
    indptr = np.zeros(len(lengths) + 1, dtype=np.int32)
    np.cumsum(lengths, out=indptr[1:])
    X = sp.csr_matrix((np.ones(len(indices)), indices, indptr), shape=(len(lengths), N_FEATURES))
    X.sum_duplicates()
    np.log(X.data, out=X.data)
    X.data += 1.0
    return X


def feature_index(feature: str) -> int:
    """The column of one feature string (the same mapping as hash_features)."""
    return abs(mmh3.hash(feature, 0)) & _MASK
