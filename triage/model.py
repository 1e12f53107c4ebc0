"""The trained classifier as triage runs it: a linear model over the shared hashed features.
Training (triage/training.py) builds it; inference needs only NumPy and SciPy, so the triage
workers never import scikit-learn."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from deskgate.triage.features import FEATURIZER_VERSION, N_FEATURES, feature_index


@dataclass(frozen=True, eq=False)
class Model:
    """A trained linear classifier over the shared hashed features."""

    task: str
    labels: tuple[str, ...]
    coef: sp.csr_matrix              # (n_labels, N_FEATURES) float32
    intercept: np.ndarray            # (n_labels,) float32
    idf_index: np.ndarray            # int32 columns kept (seen in >= min_df training rows)
    idf_value: np.ndarray            # float32 their IDF weights
    temperature: float               # calibrated softmax temperature
    featurizer: str = FEATURIZER_VERSION
    # Out of scope: when the labels include an "other" class, any message whose calibrated top
    # probability is below this threshold (fitted at train time) is answered with it.
    other_label: str | None = None
    other_threshold: float = 0.0
    info: dict[str, Any] = field(default_factory=dict)  # params, metrics, data: for the manifest
    _slot: np.ndarray = field(init=False, repr=False)
    _idf: np.ndarray = field(init=False, repr=False)
    _weights: np.ndarray = field(init=False, repr=False)
    _rows: list[tuple[np.ndarray, np.ndarray]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        # Each hashed column's slot in the model's vocabulary (the columns with an IDF; every
        # other column gets the extra last slot, of IDF 0 and weight 0): transform is two
        # gathers and scoring uses dense (vocabulary, n_labels) weights. One 4 MB map and the
        # dense weights (0.3-6 MB) per model, where a dense IDF over the hashed space and the
        # weights as a (N_FEATURES, n_labels) CSR took 8 MB plus a copy of every weight.
        vocab = np.asarray(self.idf_index, dtype=np.int64)
        slot = np.full(N_FEATURES, len(vocab), np.int32)
        slot[vocab] = np.arange(len(vocab), dtype=np.int32)
        coef = self.coef.tocsr()
        coef.sort_indices()
        weights = np.zeros((len(vocab) + 1, coef.shape[0]), np.float32)
        for label in range(coef.shape[0]):
            cols, values = (coef.indices[coef.indptr[label]:coef.indptr[label + 1]],
                            coef.data[coef.indptr[label]:coef.indptr[label + 1]])
            known = slot[cols] < len(vocab)   # (a weight outside the vocabulary never counts)
            weights[slot[cols[known]], label] = values[known]
        rows = [(coef.indices[coef.indptr[r]:coef.indptr[r + 1]], coef.data[coef.indptr[r]:coef.indptr[r + 1]])
                for r in range(coef.shape[0])]
        object.__setattr__(self, "_slot", slot)
        object.__setattr__(self, "_idf", np.append(self.idf_value, 0).astype(np.float32))
        object.__setattr__(self, "_weights", weights)
        object.__setattr__(self, "_rows", rows)

    def transform(self, raw: sp.csr_matrix) -> sp.csr_matrix:
        """Hashed counts (from `featurize`) -> this model's TF-IDF rows, L2-normalized.
        Plain NumPy on the CSR arrays: scipy's generic sparse operations cost ~1 ms of fixed
        overhead per call, which is most of a single message's time. Columns the model does
        not know stay as explicit zeros (they change neither products nor norms)."""
        data = raw.data.astype(np.float32) * self._idf[self._slot[raw.indices]]
        lengths = np.diff(raw.indptr)
        rows = np.repeat(np.arange(len(lengths)), lengths)
        norms = np.sqrt(np.bincount(rows, weights=data * data, minlength=len(lengths)))
        norms[norms == 0.0] = 1.0
        data /= norms[rows].astype(np.float32)
        return sp.csr_matrix((data, raw.indices, raw.indptr), shape=raw.shape)

    def decision(self, X: sp.csr_matrix) -> np.ndarray:
        """X @ weights + intercept. X's columns become vocabulary slots and the product is
        scipy's sparse-times-dense one, which adds each row's products in float32 in the
        order of the row's entries, as the sparse-times-sparse product over the hashed columns
        did: the scores are bit for bit the same (a zero weight adds an exact 0)."""
        slots = sp.csr_matrix((X.data, self._slot[X.indices], X.indptr),
                              shape=(X.shape[0], len(self._idf)))
        return np.asarray(slots @ self._weights) + self.intercept

    def predict_proba(self, X: sp.csr_matrix) -> np.ndarray:
        return softmax(self.decision(X) / self.temperature)

    def choose(self, probs: np.ndarray) -> np.ndarray:
        """The label index per row of `predict_proba`: the top class, or `other_label` when the
        top probability is under `other_threshold`."""
        idx = probs.argmax(axis=1)
        if self.other_label in self.labels and self.other_threshold > 0.0:
            low = probs[np.arange(len(idx)), idx] < self.other_threshold
            idx = np.where(low, self.labels.index(self.other_label), idx)
        return idx

    def predict(self, X: sp.csr_matrix) -> list[str]:
        return [self.labels[i] for i in self.choose(self.predict_proba(X))]

    def keywords(self, X: sp.csr_matrix, row: int, label: str, words: Sequence[str],
                 k: int = 5) -> tuple[str, ...]:
        """The words of message `row` of `X` (from `transform`) that pushed it most towards
        `label`: each word's TF-IDF weight times the class weight of its unigram feature."""
        # X's rows keep the hashed counts' sorted columns, so both lookups are binary searches
        x_idx = X.indices[X.indptr[row]:X.indptr[row + 1]]
        x_val = X.data[X.indptr[row]:X.indptr[row + 1]]
        w_idx, w_val = self._rows[self.labels.index(label)]
        uniq = [w for w in dict.fromkeys(words) if not w.startswith("<")]
        if not uniq or not len(w_idx) or not len(x_idx):
            return ()
        cols = np.array([feature_index("w:" + w) for w in uniq])
        contrib = lookup(x_idx, x_val, cols).astype(np.float64) * lookup(w_idx, w_val, cols)
        scored = dict(zip(uniq, contrib.tolist(), strict=True))
        best = sorted((s, w) for w, s in scored.items() if s > 0)
        return tuple(w for _, w in reversed(best[-k:]))


def lookup(idx: np.ndarray, val: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """val at cols, where idx (sorted) holds them; 0 elsewhere."""
    pos = np.minimum(np.searchsorted(idx, cols), len(idx) - 1)
    return np.where(idx[pos] == cols, val[pos], 0.0)


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)
