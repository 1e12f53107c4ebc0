"""Deskgate unchanged on a real 3-master Redis Cluster: a message goes in through the API, the
triage worker puts it on a ticket in a skill queue, an agent claims and resolves it; two tenants
do so side by side, each in its own hash slot, on different masters."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path
from typing import Any

import pytest
from redis.crc import key_slot
from rq import Queue, SimpleWorker
from rq.job import JobStatus
from rq.serializers import JSONSerializer

from deskgate.gateway.cli.main import main as cli_main
from deskgate.gateway.config import Config, ConfigError, WorkerConfig
from deskgate.gateway.retraining import jobs
from deskgate.gateway.web.app import create_app
from deskgate.gateway.web.auth import TOKEN_CACHE
from deskgate.models.enums import Role
from deskgate.models.errors import Unavailable
from deskgate.queue import connection
from deskgate.queue.history import History
from deskgate.queue.keys import Keys
from deskgate.queue.redis_server import REDIS_URL_ENV
from deskgate.queue.tokens import create_token, token_hash

from ..autoanswer.conftest import Lookup, answer_config
from ..conftest import ThreadWorker, post_message, ticket_of


def _owner(cluster: Any, slot: int) -> int:
    """The port of the master serving `slot`, as the cluster itself reports it."""
    for start, end, master, *_ in cluster.node(cluster.ports[0]).execute_command("CLUSTER", "SLOTS"):
        if start <= slot <= end:
            return int(master[1])
    raise AssertionError(f"no node serves slot {slot}")


def _tenants_on_two_masters(cluster: Any) -> tuple[str, str]:
    first = "acme"
    home = _owner(cluster, key_slot(b"acme"))
    for n in itertools.count(1):
        other = f"globex{n}"
        if _owner(cluster, key_slot(other.encode())) != home:
            return first, other
    raise AssertionError("unreachable")


def _config(tenant: str) -> Config:
    return Config(tenant=tenant, workers=WorkerConfig(block_ms=50, claim_idle_ms=500,
                                                      lease_seconds=60))


async def _console_and_revocation(live: Any, sync: Any, keys: Keys, manager: dict[str, str],
                                  admin: dict[str, str], eventually: Any) -> None:
    """A console session (a transaction on the tenant's slot), then the manager's token revoked
    through the API: the gateway hears it over the cluster's pub/sub and drops its cache."""
    secret = manager["Authorization"].removeprefix("Bearer ")
    signed_in = await live.post("/console/login", json={"token": secret})
    assert signed_in.status == 200
    assert (await live.get("/api/v1/queues")).status == 200          # by the session cookie
    cache = live.server.app[TOKEN_CACHE]

    async def listening() -> bool:
        return bool(cache.live)
    await eventually(listening)
    assert (await live.get("/api/v1/queues", headers=manager)).status == 200   # now cached
    heard = cache.generation
    revoked = await live.delete(f"/api/v1/tokens/{token_hash(secret)[:12]}", headers=admin)
    assert revoked.status == 200

    async def revocation_heard() -> bool:
        return bool(cache.generation > heard)
    await eventually(revocation_heard)
    assert (await live.get("/api/v1/queues", headers=manager)).status == 401
    assert sync.sismember(keys.token_ids, token_hash(secret)) == 0


async def _one_ticket_through(aiohttp_client: Any, url: str, data_dir: Path, tenant: str,
                              eventually: Any) -> str:
    cfg = _config(tenant)
    keys = cfg.keys()
    sync = connection.sync_client(url)
    try:
        def headers(role: Role, agent: str = "") -> dict[str, str]:
            return {"Authorization": "Bearer " + create_token(sync, keys, role,
                                                              agent_id=agent)[0]}
        live = await aiohttp_client(create_app(cfg, url, data_dir, run_workers=True))
        integration, manager, admin = (headers(Role.INTEGRATION), headers(Role.MANAGER),
                                       headers(Role.ADMIN))
        mid = await post_message(live, integration, f"{tenant}-1",
                                 "I was charged twice for invoice INV-2026-0042, refund me")
        ticket = await ticket_of(live, manager, mid, eventually)
        assert ticket["status"] == "open" and ticket["messages"][0]["id"] == mid
        assert sync.zscore(keys.queue(ticket["skill"]), ticket["id"]) is not None

        resp = await live.put("/api/v1/agents/ann", headers=admin,
                              json={"skills": [ticket["skill"]], "capacity": 2})
        assert resp.status == 200
        ann = headers(Role.AGENT, "ann")
        claim = await live.post("/api/v1/agents/ann/claim", headers=ann)
        body = await claim.json()
        assert claim.status == 200 and body["ticket"]["id"] == ticket["id"]
        assert body["ticket"]["assignee"] == "ann"
        resolved = await live.post(f"/api/v1/tickets/{ticket['id']}/resolve", headers=ann,
                                   json={"topic": "billing"})
        done = await resolved.json()
        assert resolved.status == 200 and done["status"] == "resolved"
        assert "/csat/" in done["survey_url"]      # the survey offer runs on the cluster too
        history = await (await live.get(f"/api/v1/tickets/{ticket['id']}/history",
                                        headers=manager)).json()
        assert [e["action"] for e in history["history"]][-3:] == ["claim", "resolve",
                                                                  "csat_offered"]
        assert sync.xlen(keys.csat_offers) == 1
        await _console_and_revocation(live, sync, keys, manager, admin, eventually)
        return str(ticket["id"])
    finally:
        sync.close()


async def test_two_tenants_run_the_whole_flow_on_different_masters(
        aiohttp_client: Any, redis_cluster: Any, data_dir: Path, eventually: Any) -> None:
    url = redis_cluster.url
    tenants = _tenants_on_two_masters(redis_cluster)
    homes = {}
    for tenant in tenants:
        tid = await _one_ticket_through(aiohttp_client, url, data_dir, tenant, eventually)
        keys = _config(tenant).keys()
        node = redis_cluster.node(redis_cluster.ports[0])
        slot = node.execute_command("CLUSTER", "KEYSLOT", keys.ticket(tid))
        assert slot == node.execute_command("CLUSTER", "KEYSLOT", keys.ingest)
        # every key of the tenant is on one master, and only there
        holders = {port for port in redis_cluster.ports
                   if list(redis_cluster.node(port).scan_iter(match=f"{keys.p}*", count=1000))}
        assert holders == {_owner(redis_cluster, slot)}
        assert redis_cluster.node(holders.pop()).exists(keys.ticket(tid), keys.ticket_msgs(tid),
                                                        keys.ticket_history(tid)) == 3
        homes[tenant] = _owner(redis_cluster, slot)
    assert len(set(homes.values())) == 2, homes


def test_a_cluster_without_a_tenant_is_refused_with_what_to_do(redis_cluster: Any,
                                                                data_dir: Path) -> None:
    with pytest.raises(ConfigError, match="tenant"):
        create_app(Config(), redis_cluster.url, data_dir)


def test_a_cluster_url_names_its_nodes() -> None:
    address = connection.ClusterAddress("redis+cluster://:s%40cret@10.0.0.1:7000,10.0.0.2:7001")
    assert address.nodes == [("10.0.0.1", 7000), ("10.0.0.2", 7001)]
    assert address.password == "s@cret"
    with pytest.raises(ValueError, match="host:port"):
        connection.ClusterAddress("redis+cluster://10.0.0.1")
    assert connection.is_cluster("redis+cluster://h:1") and not connection.is_cluster("redis://h")


def test_keys_of_one_tenant_share_a_slot_the_cluster_agrees(redis_cluster: Any) -> None:
    keys = Keys("dg:{acme}:")
    node = redis_cluster.node(redis_cluster.ports[0])
    assert len({node.execute_command("CLUSTER", "KEYSLOT", k)
                for k in (keys.ingest, keys.ticket("DG-1"), keys.agent("李雷"))}) == 1


def test_rq_cannot_run_on_a_cluster_client_so_jobs_need_a_standalone_redis(
        redis_cluster: Any, data_dir: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    client = connection.sync_client(redis_cluster.url)
    keys = Keys("dg:{acme}:")
    try:
        # what docs/cluster.md claims about rq 3.0: its worker needs a one-server connection
        queue = Queue(keys.models_queue, connection=client, serializer=JSONSerializer)
        job = queue.enqueue("builtins.len", "abc")
        with pytest.raises(AttributeError, match="connection_pool"):
            SimpleWorker([queue], connection=client, serializer=JSONSerializer).work(
                burst=True, with_scheduler=False)
        assert job.get_status(refresh=True) == JobStatus.QUEUED
        # so without DESKGATE_JOBS_REDIS_URL Deskgate queues no job there, and
        # `deskgate retraining-worker`
        # says why and exits
        monkeypatch.delenv(jobs.JOBS_REDIS_URL_ENV, raising=False)
        with pytest.raises(Unavailable, match="Redis Cluster"):
            jobs.enqueue(client, keys, "train", {"task": "topic"}, "admin:t", data_dir)
        assert client.zcard(keys.model_jobs) == 0
        monkeypatch.setenv(REDIS_URL_ENV, redis_cluster.url)
        assert cli_main(["retraining-worker", "--data-dir", str(data_dir)]) == 2
        assert "Redis Cluster" in capsys.readouterr().err
    finally:
        client.close()


async def test_jobs_run_on_a_standalone_redis_beside_the_cluster(
        aiohttp_client: Any, redis_cluster: Any, redis_url: str, r: Any, data_dir: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The supported layout: rq on a standalone Redis (DESKGATE_JOBS_REDIS_URL), Deskgate's own
    keys (the imported history, the job list, the job's log) in the tenant's slot."""
    monkeypatch.setenv(jobs.JOBS_REDIS_URL_ENV, redis_url)
    monkeypatch.setenv(REDIS_URL_ENV, redis_cluster.url)   # what the retraining worker is started with
    cfg = _config("initech")
    keys = cfg.keys()
    sync = connection.sync_client(redis_cluster.url)
    try:
        admin = {"Authorization": "Bearer " + create_token(sync, keys, Role.ADMIN)[0]}
        live = await aiohttp_client(create_app(cfg, redis_cluster.url, data_dir,
                                               run_workers=False))
        csv = "id,text,topic\n1,我的快递三天没动了,shipping\n2,Refund please,returns_refunds\n"
        up = await live.post("/api/v1/models/uploads?name=t.csv", headers=admin,
                             data=csv.encode())
        assert up.status == 201, await up.text()
        resp = await live.post("/api/v1/models/import", headers=admin,
                               json={"upload": (await up.json())["upload"], "source": "legacy"})
        assert resp.status == 202, await resp.text()
        job_id = (await resp.json())["job"]
        assert r.exists(f"rq:job:{job_id}") == 1              # rq's keys: on the standalone
        assert sync.zscore(keys.model_jobs, job_id) is not None  # ours: in the tenant's slot

        rq_redis = jobs.rq_connection(sync)
        worker = ThreadWorker([jobs.job_queue(sync, keys)], connection=rq_redis,
                              serializer=JSONSerializer)
        await asyncio.to_thread(worker.work, burst=True, with_scheduler=False)
        view = await (await live.get(f"/api/v1/models/jobs/{job_id}",
                                     headers=admin)).json()
        assert view["status"] == "finished", view
        assert view["result"]["imported"] == 2
        assert History(sync, keys).count() == 2
        assert sync.llen(keys.model_job_log(job_id)) > 0
    finally:
        sync.close()


async def test_an_auto_answer_on_the_cluster(aiohttp_client: Any, aiohttp_server: Any,
                                             redis_cluster: Any, data_dir: Path,
                                             eventually: Any) -> None:
    """The auto-answer stage's stream, config and outcome script in one tenant's slot."""
    shop = Lookup()
    shop.base = str((await aiohttp_server(shop.app)).make_url("")).rstrip("/")
    cfg = _config("aa-tenant")
    keys = cfg.keys()
    sync = connection.sync_client(redis_cluster.url)
    try:
        def headers(role: Role) -> dict[str, str]:
            return {"Authorization": "Bearer " + create_token(sync, keys, role)[0]}
        live = await aiohttp_client(create_app(cfg, redis_cluster.url, data_dir,
                                               run_workers=True))
        resp = await live.put("/api/v1/auto-answers/default/order_status",
                              headers=headers(Role.ADMIN), json=answer_config(shop))
        assert resp.status == 200, await resp.text()
        mid = await post_message(live, headers(Role.INTEGRATION), "aa-cluster-1",
                                 "Where is my order DD20261118004521? It has not arrived.")
        manager = headers(Role.MANAGER)
        ticket = await ticket_of(live, manager, mid, eventually)

        async def decided() -> Any:
            got = await (await live.get(f"/api/v1/tickets/{ticket['id']}",
                                        headers=manager)).json()
            return got if got.get("auto_answer") else None
        got = await eventually(decided)
        assert got["auto_answer"]["outcome"] == "answered" and got["status"] == "resolved"
        assert sync.llen(keys.ticket_replies(ticket["id"])) == 1 and len(shop.requests) == 1
    finally:
        sync.close()
