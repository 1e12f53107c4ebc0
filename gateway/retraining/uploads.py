"""Where an admin's uploaded training files live: `<data dir>/uploads/<upload id>`. Both the
HTTP upload route and the jobs that read the files resolve names here, so an upload id can never
name a file outside that folder."""

from __future__ import annotations

from pathlib import Path

UPLOADS = "uploads"


def upload_path(data_dir: Path, upload_id: str) -> Path:
    name = Path(upload_id).name
    if name != upload_id or not name or name.startswith("."):
        raise ValueError(f"bad upload id {upload_id!r}")
    path = Path(data_dir) / UPLOADS / name
    if not path.is_file():
        raise ValueError(f"no upload {upload_id!r}")
    return path
