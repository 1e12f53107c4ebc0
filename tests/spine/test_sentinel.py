"""Redis Sentinel for real: a master, a replica and three sentinels (Debian's redis-server 7,
queue/sentinel_group.py) on loopback ports; `deskgate serve`, its triage worker, the CLI and an
rq job worker all reach the master through `redis+sentinel://`, and the master is SIGKILLed
while messages pour in."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from rq import Queue, SimpleWorker
from rq.job import JobStatus
from rq.serializers import JSONSerializer

from deskgate.gateway.config import DEFAULT_CONFIG, ConfigError, parse_config
from deskgate.models.errors import Invalid
from deskgate.queue import connection
from deskgate.queue.connection import parse_sentinel_url
from deskgate.queue.keys import Keys
from deskgate.queue.redis_server import REDIS_URL_ENV
from deskgate.queue.sentinel_group import SentinelGroup, redis7_binary

CLI = [sys.executable, "-m", "deskgate.gateway.cli.main"]
SENDERS = 8
PER_PHASE = 120  # acknowledged messages wanted before the kill, and again after the failover


@pytest.fixture
def group(tmp_path: Path) -> Iterator[SentinelGroup]:
    if redis7_binary() is None:  # sentinels run as `redis-server --sentinel`
        pytest.skip("needs Debian's redis-server 7 "
                    "(apt-get install redis-server redis-sentinel; .ci/run does)")
    with SentinelGroup(tmp_path / "sentinel") as g:
        yield g


def test_the_sentinel_url_syntax() -> None:
    s = parse_sentinel_url("redis+sentinel://:p%40ss@h1:26380,h2,[::1]:26381/mymaster/2"
                           "?sentinel_password=sp")
    assert s.sentinels == (("h1", 26380), ("h2", 26379), ("::1", 26381))
    assert (s.master, s.db, s.password, s.sentinel_password) == ("mymaster", 2, "p@ss", "sp")
    assert "p@ss" not in s.redacted() and "sp" not in s.redacted()
    assert connection.redacted("redis://:pw@h1:6379/0") == "redis://h1:6379/0"
    assert "p%40ss" not in connection.redacted("redis+sentinel://:p%40ss@h1/m")
    for bad, says in (("redis+sentinel://h1:26379", "master-name"),
                      ("redis+sentinel:///mymaster", "names no sentinel"),
                      ("redis+sentinel://h1:port/mymaster", "host:port"),
                      ("redis+sentinel://h1/mymaster/zero", "db a number"),
                      ("redis+sentinel://h1/mymaster?password=x", "unknown")):
        with pytest.raises(Invalid, match=says):
            parse_sentinel_url(bad)
    with pytest.raises(ConfigError, match="redis_url"):
        parse_config("redis_url: redis+sentinel://h1:26379")


def test_cli_and_rq_jobs_reach_the_master_through_the_sentinels(
        group: SentinelGroup, tmp_path: Path) -> None:
    env = {**os.environ, REDIS_URL_ENV: group.url}
    token = subprocess.run([*CLI, "token", "create", "--role", "admin", "--data-dir",
                            str(tmp_path / "data")], env=env, capture_output=True, text=True,
                           timeout=60, check=True).stdout.strip()
    assert token
    assert not (tmp_path / "data" / "redis").exists(), "an embedded Redis was started"
    master = group.client(group.master_port())
    assert master.scard(Keys().token_ids) == 1
    client = connection.sync_client(group.url)
    job = Queue("sentinel-test", connection=client, serializer=JSONSerializer).enqueue(
        "builtins.sum", [1, 2, 3])
    SimpleWorker([Queue("sentinel-test", connection=client, serializer=JSONSerializer)],
                 connection=client, serializer=JSONSerializer).work(burst=True)
    assert job.get_status(refresh=True) == JobStatus.FINISHED and job.return_value() == 6
    client.close()
    master.close()


@pytest.mark.slow
async def test_a_master_killed_under_load_loses_no_acknowledged_message(
        group: SentinelGroup, tmp_path: Path, free_port: Any) -> None:
    port = free_port()
    cfg = tmp_path / "deskgate.yaml"
    cfg.write_text(DEFAULT_CONFIG.read_text(encoding="utf-8")
                   .replace('redis_url: ""', f'redis_url: "{group.url}"')
                   .replace("mode: everysec", "mode: replica\n  replica_timeout_ms: 1000"),
                   encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != REDIS_URL_ENV}
    data = tmp_path / "data"
    common = ["--config", str(cfg), "--data-dir", str(data)]
    serve = subprocess.Popen([*CLI, "serve", "--port", str(port), "--workers", "1",
                              "--job-workers", "0", "--no-smtp", *common],
                             env=env, stderr=(tmp_path / "serve.log").open("w"))
    base = f"http://127.0.0.1:{port}"
    acked: dict[str, int] = {}    # message id -> HTTP status of its acknowledgement
    refused = 0
    stop = asyncio.Event()

    async def until(check: Any, what: str, timeout: float = 120) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        while not check():
            assert serve.poll() is None, "serve exited: see serve.log"
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            await asyncio.sleep(0.05)

    try:
        token = (await asyncio.to_thread(
            subprocess.run, [*CLI, "token", "create", "--role", "integration", *common],
            env=env, capture_output=True, text=True, timeout=60, check=True)).stdout.strip()
        headers = {"Authorization": f"Bearer {token}"}
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as http:

            async def healthy() -> bool:
                try:
                    async with http.get(f"{base}/healthz") as resp:
                        return resp.status == 200
                except aiohttp.ClientError:
                    return False

            deadline = asyncio.get_running_loop().time() + 90
            while not await healthy():
                assert serve.poll() is None and asyncio.get_running_loop().time() < deadline
                await asyncio.sleep(0.1)

            async def sender(n: int) -> None:
                nonlocal refused
                i = 0
                while not stop.is_set():
                    body = {"external_id": f"s{n}-{i}", "sender": {"email": f"u{n}@example.com"},
                            "text": f"message {i} from {n}: where is my parcel?"}
                    try:
                        async with http.post(f"{base}/api/v1/messages", json=body,
                                             headers=headers) as resp:
                            if resp.status in (200, 202):
                                acked[(await resp.json())["id"]] = resp.status
                                i += 1
                                continue
                            assert resp.status == 503, await resp.text()
                            assert resp.headers["Retry-After"].isdigit()
                    except aiohttp.ClientError:
                        pass
                    refused += 1  # the same message again, as a provider retries
                    await asyncio.sleep(0.2)

            tasks = [asyncio.create_task(sender(n)) for n in range(SENDERS)]
            await until(lambda: len(acked) >= PER_PHASE, "acknowledgements before the kill")
            old = await asyncio.to_thread(group.kill_master)
            new = await asyncio.to_thread(group.wait_for_failover, old)
            promoted_at = len(acked)
            await asyncio.to_thread(group.restart, old)  # back as the new master's replica
            await until(lambda: len(acked) >= promoted_at + PER_PHASE,
                        "acknowledgements after the failover")
            stop.set()
            await asyncio.gather(*tasks)

        assert new != old
        keys, master = Keys(), group.client(group.master_port())
        ids = [f[b"id"].decode() for _, f in master.xrange(keys.ingest)]
        assert len(ids) == len(set(ids)), "a message was ingested twice"
        lost = sorted(set(acked) - set(ids))
        assert lost == [], f"{len(lost)} of {len(acked)} acknowledged messages lost"
        # the triage worker followed the failover too: every message reaches a ticket
        await until(lambda: all(master.hexists(keys.msg(m), "ticket") for m in acked),
                    "the worker to apply every acknowledged message", timeout=180)
        master.close()
        print(f"{len(acked)} acknowledged, {refused} refused and retried, 0 lost")
    finally:
        stop.set()
        serve.terminate()
        try:
            serve.wait(60)
        except subprocess.TimeoutExpired:
            serve.kill()
            serve.wait()
