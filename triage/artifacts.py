"""Saving and loading trained models safely, with a manifest.

An artifact is a directory:

    <dir>/weights.npz      the Model's arrays, written and read with allow_pickle=False, so
                           loading an artifact can never execute code (stronger than skops'
                           trusted-types check and than joblib, which is pickle)
    <dir>/manifest.json    format, task, labels, featurizer version, library versions, training
                           data fingerprint/rows/label counts/source, parameters, metrics,
                           created time, and the sha256 of weights.npz

    save(model, dir) -> Manifest          write both (weights first, manifest last, each via a
                                          temporary file + rename, so a crash never leaves a
                                          manifest pointing at half a file)
    load(dir, task=None) -> Model         verify, then load; raises ArtifactError when the
                                          manifest is missing/invalid, the checksum does not
                                          match, the featurizer differs from this code's, or
                                          the task is not the one asked for
    read_manifest(dir) -> Manifest        the manifest alone (for listings and /metrics)

Registries (issue 7) keep one such directory per version; `Manifest.version` is the id shown
to admins and in /metrics.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
import time
from importlib import metadata
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import scipy.sparse as sp

from deskgate.triage.features import FEATURIZER_VERSION, N_FEATURES
from deskgate.triage.model import Model

FORMAT = "deskgate-linear-v1"
WEIGHTS = "weights.npz"
MANIFEST = "manifest.json"


class ArtifactError(ValueError):
    """An artifact that must not be used; the message says what is wrong with it."""


class Manifest(msgspec.Struct, frozen=True, kw_only=True):
    format: str
    version: str                       # "<task>-<created yyyymmddThhmmss>-<sha256[:8]>"
    task: str
    labels: tuple[str, ...]
    featurizer: str
    sha256: str                        # of weights.npz
    created: str                       # ISO 8601 UTC
    temperature: float
    versions: dict[str, str] = {}      # library versions at training time
    data: dict[str, Any] = {}          # fingerprint, rows, label_counts, source
    params: dict[str, Any] = {}
    metrics: dict[str, Any] = {}
    train_seconds: float = 0.0


def _versions() -> dict[str, str]:
    out = {}
    for dist in ("deskgate", "scikit-learn", "numpy", "scipy", "spacy", "jieba"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "unknown"
    return out


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save(model: Model, directory: Path, *, created: str | None = None) -> Manifest:
    """Write `model` into `directory` (created if needed) and return its manifest. `created`
    fixes the timestamp (the default-model script passes one so that it reproduces exactly)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    coef = model.coef.tocsr()
    coef.sort_indices()
    buf = io.BytesIO()
    # np.savez (not _compressed): zip deflate timestamps would make identical models differ.
    np.savez(
        buf,
        coef_data=coef.data.astype(np.float32), coef_indices=coef.indices.astype(np.int32),
        coef_indptr=coef.indptr.astype(np.int64), intercept=model.intercept.astype(np.float32),
        idf_index=model.idf_index.astype(np.int32), idf_value=model.idf_value.astype(np.float32),
    )
    weights = directory / WEIGHTS
    _atomic_write(weights, buf.getvalue())
    digest = _sha256(weights)
    created = created or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    stamp = created.replace("-", "").replace(":", "").rstrip("Z")
    info = model.info
    manifest = Manifest(
        format=FORMAT, version=f"{model.task}-{stamp}-{digest[:8]}", task=model.task,
        labels=model.labels, featurizer=model.featurizer, sha256=digest, created=created,
        temperature=model.temperature, versions=_versions(), data=info.get("data", {}),
        params={**info.get("params", {}),
                **({"other_label": model.other_label, "other_threshold": model.other_threshold}
                   if model.other_label is not None else {})},
        metrics=info.get("metrics", {}),
        train_seconds=float(info.get("train_seconds", 0.0)),
    )
    _atomic_write(directory / MANIFEST, json.dumps(msgspec.to_builtins(manifest), ensure_ascii=False,
                                                   indent=2, sort_keys=True).encode() + b"\n")
    return manifest


def read_manifest(directory: Path) -> Manifest:
    path = Path(directory) / MANIFEST
    try:
        return msgspec.json.decode(path.read_bytes(), type=Manifest)
    except FileNotFoundError as exc:
        raise ArtifactError(f"no {MANIFEST} in {directory}") from exc
    except msgspec.DecodeError as exc:
        raise ArtifactError(f"invalid {path}: {exc}") from exc


def load(directory: Path, task: str | None = None) -> Model:
    """Verify and load one artifact. Never unpickles anything."""
    directory = Path(directory)
    man = read_manifest(directory)
    if man.format != FORMAT:
        raise ArtifactError(f"{directory}: format {man.format!r}, this code reads {FORMAT!r}")
    if task is not None and man.task != task:
        raise ArtifactError(f"{directory}: a {man.task!r} model where a {task!r} model was expected")
    if man.featurizer != FEATURIZER_VERSION:
        raise ArtifactError(
            f"{directory}: trained with featurizer {man.featurizer!r}, this code computes "
            f"{FEATURIZER_VERSION!r}; retrain it"
        )
    weights = directory / WEIGHTS
    if not weights.is_file():
        raise ArtifactError(f"{directory}: {WEIGHTS} missing")
    actual = _sha256(weights)
    if actual != man.sha256:
        raise ArtifactError(f"{directory}: checksum mismatch for {WEIGHTS} "
                            f"(manifest {man.sha256[:12]}…, file {actual[:12]}…); refusing to load")
    try:
        with np.load(weights, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        coef = sp.csr_matrix(
            (arrays["coef_data"], arrays["coef_indices"], arrays["coef_indptr"]),
            shape=(len(man.labels), N_FEATURES),
        )
        return Model(
            task=man.task, labels=tuple(man.labels), coef=coef, intercept=arrays["intercept"],
            idf_index=arrays["idf_index"], idf_value=arrays["idf_value"],
            temperature=man.temperature, featurizer=man.featurizer,
            other_label=man.params.get("other_label"),
            other_threshold=float(man.params.get("other_threshold", 0.0)),
            info={"version": man.version, "data": man.data, "params": man.params,
                  "metrics": man.metrics, "train_seconds": man.train_seconds},
        )
    except (KeyError, ValueError, OSError) as exc:
        raise ArtifactError(f"{directory}: unreadable weights: {exc}") from exc
