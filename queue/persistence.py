"""What an acknowledgement promises (the durability mode), and the checks that keep the promise.

Redis appends each write to its AOF buffer and writes that buffer to the file just before it
sends the replies of the same event-loop turn. With `appendfsync everysec`, when that write
fails (disk full, I/O error) Redis keeps the data in memory, sets aof_last_write_status:err and
still sends the OK it had queued; only later writes are refused (MISCONF). A crash before the
disk recovers then loses writes that were acknowledged. (`appendfsync always` exits instead of
replying.) So the ingest confirms each committed batch with a command Redis refuses while its
AOF is failing - PING is refused like a write (MISCONF) - sent after the batch's reply, i.e. in
a later event-loop turn of Redis, after the batch's AOF write was attempted (queue/ingest.py).

The PersistenceGuard is the cheap part every accept shares: every `check_interval_ms` it reads
INFO persistence (and INFO replication in replica mode) and the free space of the data and AOF
directories, and keeps one reason to refuse (or None). Accepts read that attribute before
writing, so a full disk turns into 503 / SMTP 451 / an unflagged IMAP message before the disk is
actually full, and before any acknowledgement.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlparse

import msgspec
import redis.asyncio as aioredis
from redis.exceptions import RedisError, ResponseError

from deskgate.queue.connection import follow_master, is_sentinel_url, raise_if_cancelled
from deskgate.queue.redis_server import RedisUnavailable
from deskgate.queue.replies import text_hash

log = logging.getLogger("deskgate.persistence")

Mode = Literal["everysec", "always", "replica"]
_LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", ""}


class DurabilityConfig(msgspec.Struct, kw_only=True, frozen=True):
    """`durability:` in the config; `durability: always` is short for `{mode: always}`."""

    mode: Mode = "everysec"
    # Below this much free space in the data directory or the AOF directory, new messages are
    # refused (503 / 451) so that Redis never reaches a full disk with acknowledged data.
    # 0 turns this check off (Redis's own AOF errors are still caught).
    min_free_mb: Annotated[int, msgspec.Meta(ge=0)] = 256
    check_interval_ms: Annotated[int, msgspec.Meta(ge=10, le=10_000)] = 250
    # replica mode: replicas that must have each batch, and how long WAIT waits for them
    # before the sender gets 503 (below the gateway's 5 s Redis socket timeout)
    replicas: Annotated[int, msgspec.Meta(ge=1)] = 1
    replica_timeout_ms: Annotated[int, msgspec.Meta(ge=1, le=4000)] = 1000

    @property
    def appendfsync(self) -> str:
        """The AOF policy the embedded Redis runs with (and an external one must match)."""
        return "always" if self.mode == "always" else "everysec"


class PersistenceMisconfigured(RedisUnavailable):
    """The Redis cannot keep the configured durability mode's promise: do not start."""


class Refusal(msgspec.Struct, frozen=True):
    """Why new messages are refused: `code`, a fixed word safe to show anyone (/healthz), and
    `detail`, said for the operator (paths, hosts, figures) and only logged."""

    code: str
    detail: str

    def __str__(self) -> str:
        return self.detail


class PersistenceGuard:
    """One periodic persistence check shared by every accept of this process."""

    def __init__(self, client: aioredis.Redis, cfg: DurabilityConfig, redis_url: str,
                 data_dir: Path) -> None:
        self._r = client
        self.cfg = cfg
        self._local = _is_local(redis_url)
        self.paths: list[Path] = [Path(data_dir)]
        self.refusal: Refusal | None = None  # why accepts are refused right now
        self._verified = False

    async def start(self) -> None:
        """At start: PersistenceMisconfigured against a Redis that cannot keep the mode's
        promise. A Redis that does not answer yet is verified by `run` once it does (the
        gateway starts, and answers 503, while Redis is down)."""
        try:
            await self._verify()
        except (RedisError, OSError) as exc:
            log.warning("cannot verify the Redis persistence settings yet: %s", exc)
        self.refusal = await self.check()
        if self.refusal:
            log.warning("new messages are refused until this clears: %s", self.refusal)

    async def _verify(self) -> None:
        info = await self._r.info("persistence")
        if not int(info.get("aof_enabled", 0)):
            raise PersistenceMisconfigured(
                "the Redis runs without AOF (appendonly no), so a restart loses acknowledged "
                "messages: set `appendonly yes` on it (CONFIG SET appendonly yes, and in its "
                "redis.conf)")
        settings = await self._config_get("appendfsync", "no-appendfsync-on-rewrite", "dir")
        if settings is None:
            log.warning("cannot read the Redis settings (CONFIG GET refused): make sure it runs "
                        "with appendfsync %s%s; Deskgate cannot verify it", self.cfg.appendfsync,
                        " and no-appendfsync-on-rewrite no" if self.cfg.mode == "always" else "")
        else:
            fsync = settings.get("appendfsync", "")
            if fsync not in ("always", self.cfg.appendfsync):
                raise PersistenceMisconfigured(
                    f"durability mode {self.cfg.mode} needs appendfsync "
                    f"{self.cfg.appendfsync} on the Redis, which runs with appendfsync "
                    f"{fsync}: set it there (CONFIG SET appendfsync {self.cfg.appendfsync}, "
                    "and in its redis.conf), or choose the mode it supports")
            if self.cfg.mode == "always" and settings.get("no-appendfsync-on-rewrite") == "yes":
                raise PersistenceMisconfigured(
                    "durability mode always needs no-appendfsync-on-rewrite no on the Redis "
                    "(with yes it skips fsync while rewriting the AOF)")
            aof_dir = Path(settings.get("dir", ""))
            if self._local and aof_dir.is_dir() and aof_dir not in self.paths:
                self.paths.append(aof_dir)
        if self.cfg.mode == "replica":
            role = (await self._r.info("replication")).get("role")
            if role != "master":
                raise PersistenceMisconfigured(
                    f"durability mode replica needs DESKGATE_REDIS_URL to name the master; "
                    f"this Redis is a {role}")
        self._verified = True

    async def _config_get(self, *names: str) -> dict[str, str] | None:
        try:
            found: dict[str, str] = {}
            for name in names:  # one name per call: Redis 6.2 takes only one pattern
                found.update(text_hash(await self._r.config_get(name)))
            return found
        except ResponseError:
            return None

    async def check(self) -> Refusal | None:
        """One check: the reason to refuse new messages now, or None."""
        try:
            if not self._verified:
                await self._verify()
            info = await self._r.info("persistence")
            replication = (await self._r.info("replication")
                           if self.cfg.mode == "replica" else {})
        except (RedisError, OSError) as exc:
            raise_if_cancelled(exc)
            return Refusal("redis_unreachable", f"Redis does not answer: {exc}")
        except PersistenceMisconfigured as exc:
            return Refusal("redis_misconfigured", str(exc))
        if not int(info.get("aof_enabled", 0)):
            return Refusal("aof_off", "the Redis has AOF turned off")
        if info.get("aof_last_write_status") != "ok":
            return Refusal("aof_write_failed",
                           "the Redis cannot write its AOF (see its log; is the disk full?)")
        if self.cfg.mode == "replica":
            online = sum(1 for k, v in replication.items()
                         if k.startswith("slave") and isinstance(v, dict)
                         and v.get("state") == "online")
            if online < self.cfg.replicas:
                return Refusal("replicas_offline",
                               f"{online} of {self.cfg.replicas} replica(s) online")
        return low_space(self.paths, self.cfg.min_free_mb)

    async def run(self) -> None:
        interval = self.cfg.check_interval_ms / 1000
        while True:
            await asyncio.sleep(interval)
            if await follow_master(self._r):
                log.warning("the sentinels name a new Redis master; this process moves to it")
            why = await self.check()
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                # redis-py can swallow a cancel that lands while it opens a connection (the
                # check then succeeds on it); without this the loop outlived its shutdown
                raise asyncio.CancelledError
            if why != self.refusal:
                if why:
                    log.error("refusing new messages (senders retry): %s", why)
                else:
                    log.warning("persistence is healthy again; accepting new messages")
                self.refusal = why


def low_space(paths: Sequence[Path], min_free_mb: int) -> Refusal | None:
    """The first directory with less free space than `min_free_mb`, said for an operator."""
    for path in paths:
        try:
            st = os.statvfs(path)
        except OSError as exc:
            return Refusal("disk_unchecked",
                           f"cannot check free space of {path}: {exc.strerror}")
        free_mb = st.f_bavail * st.f_frsize / 2**20
        if free_mb < min_free_mb:
            return Refusal("disk_low", f"only {free_mb:.0f} MiB free in {path} "
                           f"(durability.min_free_mb is {min_free_mb}): free some space")
    return None


def _is_local(redis_url: str) -> bool:
    """True when the Redis runs on this machine, so its AOF directory is ours to check (never
    behind Sentinel: the master moves between hosts)."""
    if is_sentinel_url(redis_url):
        return False
    url = urlparse(redis_url)
    return url.scheme == "unix" or (url.hostname or "") in _LOCAL_HOSTS
