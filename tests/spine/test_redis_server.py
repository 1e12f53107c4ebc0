"""The embedded Redis: one server per data directory, persistent across restarts."""

from __future__ import annotations

import threading
import time

import redis

from deskgate.queue import redis_server
from deskgate.queue.redis_server import EmbeddedRedis


def test_a_second_process_uses_the_running_server_instead_of_starting_one(tmp_path) -> None:
    owner = EmbeddedRedis(tmp_path)
    owner.start()
    try:
        guest = EmbeddedRedis(tmp_path)
        assert guest.start() == owner.url
        assert guest._proc is None, "the guest must not start a second server"
        redis.Redis.from_url(guest.url).set("k", "v")
        guest.stop()  # a guest's stop leaves the owner's server alone
        assert redis.Redis.from_url(owner.url).get("k") == b"v"
    finally:
        owner.stop()


def test_data_survives_a_restart_through_the_aof(tmp_path) -> None:
    with EmbeddedRedis(tmp_path) as server:
        client = redis.Redis.from_url(server.url)
        client.xadd("s", {"m": "x"})
        client.set("counter", 41)
        client.incr("counter")
    redis_dir = tmp_path / "redis"
    assert (redis_dir / "appendonlydir").is_dir() or (redis_dir / "appendonly.aof").is_file()
    with EmbeddedRedis(tmp_path) as server:
        client = redis.Redis.from_url(server.url)
        assert client.get("counter") == b"42" and client.xlen("s") == 1
        assert client.config_get("appendonly")["appendonly"] == "yes"


def test_a_long_lived_owner_waits_for_a_one_shot_holder_then_runs_its_own(tmp_path) -> None:
    one_shot = EmbeddedRedis(tmp_path)
    one_shot.start()
    threading.Timer(0.5, one_shot.stop).start()  # the one-shot command finishes
    serve = EmbeddedRedis(tmp_path)
    serve.start(own=True)
    try:
        assert serve._proc is not None, "serve must run the server it depends on"
        assert redis.Redis.from_url(serve.url).ping()
    finally:
        serve.stop()


def test_the_owner_restarts_a_dead_server_at_once_then_backs_off(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(redis_server, "RESTART_BACKOFF_FIRST", 3600.0)  # no second chance here
    server = EmbeddedRedis(tmp_path)
    server.start(own=True)
    try:
        redis.Redis.from_url(server.url).set("k", "v")
        first = server._proc
        first.kill()
        first.wait()
        server.supervise()  # the first death: restarted at once, from the AOF
        second = server._proc
        assert second is not first and second.poll() is None
        client = redis.Redis.from_url(server.url)
        for _ in range(200):
            try:
                assert client.get("k") == b"v"
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        else:
            raise AssertionError("the restarted server never answered")
        second.kill()
        second.wait()
        server.supervise()  # dying again at once: it waits its back-off
        assert server._proc is second
    finally:
        server.stop()


def test_a_ticket_sized_hash_stays_compact_and_a_long_mail_converts(r, prefix) -> None:
    """A ticket hash carries one value of a few hundred bytes (its triage JSON): at Redis's
    default 64-byte limit that value alone made the whole hash a hashtable, ~2.4 KB a ticket
    instead of ~0.9 KB. Past HASH_MAX_COMPACT_VALUE (a long email's JSON) it converts."""
    ticket, mail = f"{prefix}enc:ticket", f"{prefix}enc:mail"
    r.hset(ticket, mapping={"id": "DG-1", "status": "open", "triage": "x" * 600})
    r.hset(mail, mapping={"ticket": "DG-1", "json": "y" * (redis_server.HASH_MAX_COMPACT_VALUE + 1)})
    assert r.object("encoding", ticket) in (b"ziplist", b"listpack")
    assert r.object("encoding", mail) == b"hashtable"
