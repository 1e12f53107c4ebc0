"""The model registry's files: one artifact directory per version under
<data_dir>/models/<task>/<version>/ (weights.npz + manifest.json, see triage/artifacts.py).

Every worker on the machine loads from here; in a multi-machine install <data_dir>/models must
be a shared volume (NFS, EFS, …) mounted at the same path, writable only by the admin account
that runs Deskgate. Loading refuses:
- any directory or file on the path that a non-admin could write to (owned by someone other
  than us or root, or group/world-writable without the sticky bit), so nobody can swap weights
  under a worker;
- an artifact whose manifest does not match what the registry recorded when the version was
  registered (version, task, checksum) or whose weights do not match the manifest's checksum,
  or that was made by another featurizer (artifacts.load).
"""

from __future__ import annotations

import os
import shutil
import stat
import uuid
from collections.abc import Mapping
from pathlib import Path

import msgspec

from deskgate.models.learning import ModelVersion
from deskgate.triage import artifacts
from deskgate.triage.engine import DEFAULT_MODEL_DIR, Triager
from deskgate.triage.model import Model

TMP_PREFIX = ".tmp-"


class UntrustedPath(artifacts.ArtifactError):
    """A path a non-admin user could write to; nothing is loaded from it."""


def models_root(data_dir: Path) -> Path:
    return Path(data_dir) / "models"


def _private_dir(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, 0o755)


def check_trusted(path: Path) -> None:
    """Raise UntrustedPath unless `path` and every directory above it can only be written by
    this user or root. A sticky, root-owned directory (/tmp) is accepted as an ancestor: others
    can create entries in it but not replace ours."""
    real = Path(os.path.realpath(path))
    me = os.geteuid()
    for i, part in enumerate([real, *real.parents]):
        st = part.lstat()
        if st.st_uid not in (me, 0):
            raise UntrustedPath(f"{part} is owned by uid {st.st_uid}, not by this user or "
                                f"root; refusing to load models from {path}")
        if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            sticky_ancestor = i > 0 and st.st_mode & stat.S_ISVTX and st.st_uid == 0
            if not sticky_ancestor:
                raise UntrustedPath(f"{part} is writable by group or others (mode "
                                    f"{stat.S_IMODE(st.st_mode):o}); refusing to load models "
                                    f"from {path}")


def save_version(model: Model, data_dir: Path) -> tuple[artifacts.Manifest, str, bytes]:
    """Write `model` as a new version: into a temporary directory first, renamed into place
    only when complete, so a crash or a cancelled job never leaves a half artifact under a
    version name. Returns (manifest, path relative to the models root, manifest bytes)."""
    task_dir = models_root(data_dir) / model.task
    _private_dir(models_root(data_dir))
    _private_dir(task_dir)
    tmp = task_dir / f"{TMP_PREFIX}{uuid.uuid4().hex}"
    try:
        manifest = artifacts.save(model, tmp)
        for f in tmp.iterdir():
            os.chmod(f, 0o644)
        os.chmod(tmp, 0o755)
        final = task_dir / manifest.version
        if final.exists():   # the same model saved in the same second: identical content
            shutil.rmtree(tmp)
        else:
            os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return manifest, f"{model.task}/{manifest.version}", (final / artifacts.MANIFEST).read_bytes()


def remove_stale_tmp(data_dir: Path) -> int:
    """Temporary directories left by jobs that were killed (a stopped rq job dies by SIGKILL)."""
    removed = 0
    root = models_root(data_dir)
    for tmp in root.glob(f"*/{TMP_PREFIX}*") if root.is_dir() else ():
        shutil.rmtree(tmp, ignore_errors=True)
        removed += 1
    return removed


def load_version(data_dir: Path, record: ModelVersion) -> Model:
    """Verify and load one registered version (see the module docstring for what is refused)."""
    directory = models_root(data_dir) / record.path
    check_trusted(directory)
    for f in (artifacts.MANIFEST, artifacts.WEIGHTS):
        if (directory / f).exists():
            check_trusted(directory / f)
    manifest = artifacts.read_manifest(directory)
    recorded = msgspec.json.decode(record.manifest, type=artifacts.Manifest)
    mismatch = [name for name, a, b in (
        ("version", manifest.version, record.version), ("task", manifest.task, record.task),
        ("sha256", manifest.sha256, record.sha256), ("manifest", manifest, recorded)) if a != b]
    if mismatch:
        raise artifacts.ArtifactError(
            f"{directory}: manifest does not match the registry ({', '.join(mismatch)}); "
            "refusing to load")
    return artifacts.load(directory, task=record.task)


def load_models(data_dir: Path, records: Mapping[str, ModelVersion | None]) -> dict[str, Model]:
    """task -> Model for the given records; None (or the "default" version) means the packaged
    model of that task."""
    return {task: (load_version(data_dir, rec) if rec is not None
                   else artifacts.load(DEFAULT_MODEL_DIR / task, task=task))
            for task, rec in records.items()}


def with_models(base: Triager, models: Mapping[str, Model]) -> Triager:
    """A Triager running `models`, sharing `base`'s spaCy pipelines and rules (loading those
    again would take seconds and change nothing)."""
    return Triager({**base.models, **models}, rules=base.rules, pipelines=base.pipelines)
