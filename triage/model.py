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
    _idf: np.ndarray = field(init=False, repr=False)
    _weights: sp.csr_matrix = field(init=False, repr=False)
    _rows: list[tuple[np.ndarray, np.ndarray]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        # Dense IDF over the hashed space (4 MB) so that transform is one gather, and the
        # weights transposed to (N_FEATURES, n_labels) CSR so that scoring allocates per label,
        # not per hashed column: a product with a (2^20 x 2^20) diagonal costs ~2 ms per call.
        idf = np.zeros(N_FEATURES, np.float32)
        idf[self.idf_index] = self.idf_value
        coef = self.coef.tocsr()
        coef.sort_indices()
        rows = [(coef.indices[coef.indptr[r]:coef.indptr[r + 1]], coef.data[coef.indptr[r]:coef.indptr[r + 1]])
                for r in range(coef.shape[0])]
        object.__setattr__(self, "_idf", idf)
        object.__setattr__(self, "_weights", coef.T.tocsr())
        object.__setattr__(self, "_rows", rows)

    def transform(self, raw: sp.csr_matrix) -> sp.csr_matrix:
        """Hashed counts (from `featurize`) -> this model's TF-IDF rows, L2-normalized.
        Plain NumPy on the CSR arrays: scipy's generic sparse operations cost ~1 ms of fixed
        overhead per call, which is most of a single message's time. Columns the model does
        not know stay as explicit zeros (they change neither products nor norms)."""
        data = raw.data.astype(np.float32) * self._idf[raw.indices]
        lengths = np.diff(raw.indptr)
        rows = np.repeat(np.arange(len(lengths)), lengths)
        norms = np.sqrt(np.bincount(rows, weights=data * data, minlength=len(lengths)))
        norms[norms == 0.0] = 1.0
        data /= norms[rows].astype(np.float32)
        return sp.csr_matrix((data, raw.indices, raw.indptr), shape=raw.shape)

    def decision(self, X: sp.csr_matrix) -> np.ndarray:
        return (X @ self._weights).toarray() + self.intercept

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
        x_idx = X.indices[X.indptr[row]:X.indptr[row + 1]]
        x_val = X.data[X.indptr[row]:X.indptr[row + 1]]
        w_idx, w_val = self._rows[self.labels.index(label)]
        uniq = [w for w in dict.fromkeys(words) if not w.startswith("<")]
        if not uniq or not len(w_idx) or not len(x_idx):
            return ()
        cols = np.array([feature_index("w:" + w) for w in uniq])
        pos = np.minimum(np.searchsorted(w_idx, cols), len(w_idx) - 1)
        weight = np.where(w_idx[pos] == cols, w_val[pos], 0.0).astype(np.float64)
        # the row's weight of each word's column, looked up in NumPy: a dict of the whole row
        # (hundreds of character n-grams, for the few words) was ~5% of a worker's CPU; the
        # last of duplicate columns wins, as it did in that dict
        order = np.argsort(x_idx, kind="stable")
        at = np.searchsorted(x_idx, cols, side="right", sorter=order) - 1
        found = order[np.maximum(at, 0)]
        tfidf = np.where((at >= 0) & (x_idx[found] == cols), x_val[found], 0.0)
        scores = (tfidf.astype(np.float64) * weight).tolist()
        best = sorted((s, w) for w, s in zip(uniq, scores, strict=True) if s > 0)
        return tuple(w for _, w in reversed(best[-k:]))


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)
