"""Content-addressed file store for bytes that must not travel through Redis: raw emails and
their attachments. A blob's name is the SHA-256 of its content ("sha256:<hex>"), so storing the
same bytes twice (an SMTP retry, an IMAP re-fetch) is one file and a retry is idempotent.

Readers never see a partial file (write to a temp file, rename). Durability follows the data
dir's Redis: with `fsync_each` every file and its directory entry are fsynced before `put`
returns ("always"); without, `sync()` flushes the file system once a second ("everysec", like
Redis' default appendfsync), because an fsync per file costs 1-6 ms on a busy disk and would
cap mail intake far below the stream's own rate. Either way a file is on disk before the ack
when the process crashes."""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import hashlib
import itertools
import os
import re
import secrets
from collections.abc import Iterable
from pathlib import Path

REF_PREFIX = "sha256:"
_libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True) if os.name == "posix" else None
_HEX = re.compile(r"^[0-9a-f]{64}$")


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class BlobStore:
    def __init__(self, data_dir: Path, *, fsync_each: bool = True) -> None:
        self.root = Path(data_dir) / "blobs"
        self.fsync_each = fsync_each
        self._root = str(self.root)
        self._folders: set[str] = set()   # fan-out folders known to exist (at most 65,536)
        # Temp names unique across threads, processes and gateways sharing the directory
        # (O_EXCL refuses a clash rather than letting two writers share a file).
        self._tag = f"{os.getpid()}-{secrets.token_hex(4)}"
        self._serial = itertools.count()

    def path(self, ref: str) -> Path:
        """Where a blob lives; ValueError for anything that is not a sha256 ref (so a ref
        taken from a request can never name another file)."""
        hexdigest = ref.removeprefix(REF_PREFIX)
        if not _HEX.match(hexdigest):
            raise ValueError(f"not a blob reference: {ref[:80]!r}")
        return self.root / hexdigest[:2] / hexdigest[2:4] / hexdigest

    def put(self, data: bytes, sha256: str | None = None) -> str:
        hexdigest = sha256 or hashlib.sha256(data).hexdigest()
        self._write(hexdigest, data)
        return REF_PREFIX + hexdigest

    def _write(self, hexdigest: str, data: bytes) -> None:
        # Plain os calls on str paths: this runs on the event loop for small mail, where
        # pathlib, mkstemp's random names and a mkdir per file cost more than the write.
        if not _HEX.match(hexdigest):
            raise ValueError(f"not a blob reference: {hexdigest[:80]!r}")
        folder = f"{self._root}/{hexdigest[:2]}/{hexdigest[2:4]}"
        target = f"{folder}/{hexdigest}"
        if os.path.exists(target):
            return
        if folder not in self._folders:
            self._make_folder(folder)
        tmp = f"{folder}/.tmp-{self._tag}-{next(self._serial)}"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        except FileNotFoundError:  # the folder was removed behind our back: make it again
            self._folders.discard(folder)
            self._make_folder(folder)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
                if self.fsync_each:
                    os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        if self.fsync_each:  # the name must survive a crash as well as the bytes
            _fsync_dir(folder)

    def _make_folder(self, folder: str) -> None:
        os.makedirs(folder, exist_ok=True)
        if self.fsync_each:  # so must the entries of folders that may have been made now
            for parent in (os.path.dirname(self._root), self._root, os.path.dirname(folder)):
                _fsync_dir(parent)
        self._folders.add(folder)

    def put_many(self, items: Iterable[tuple[str, bytes]]) -> list[str]:
        """Store (sha256, bytes) pairs whose digest the caller already computed."""
        return [self.put(data, sha) for sha, data in items]

    def sync(self) -> None:
        """Flush every written blob to stable storage (syncfs of the store's file system)."""
        self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.root, os.O_RDONLY)
        try:
            if _libc is not None and hasattr(_libc, "syncfs"):
                _libc.syncfs(fd)
            else:
                os.sync()
        finally:
            os.close(fd)

    def get(self, ref: str) -> bytes:
        return self.path(ref).read_bytes()

    def exists(self, ref: str) -> bool:
        return self.path(ref).exists()

