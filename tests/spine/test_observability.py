"""/metrics as Prometheus reads it (parsed by prometheus_client, types checked, values moving
after real messages go through the worker), and the access log as `deskgate serve` writes it:
the route template, never the ids, query string or token of the request."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer
from prometheus_client.parser import text_string_to_metric_families

from deskgate.gateway.config import Config
from deskgate.gateway.web import access_log
from deskgate.gateway.web.app import create_app
from deskgate.models.enums import Role


async def _scrape(client: Any) -> dict[str, Any]:
    resp = await client.get("/metrics")
    assert resp.status == 200
    assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return {f.name: f for f in text_string_to_metric_families(await resp.text())}


def _value(families: dict[str, Any], family: str, sample: str, **labels: str) -> float:
    return sum(s.value for s in families[family].samples
               if s.name == sample and all(s.labels.get(k) == v for k, v in labels.items()))


async def test_metrics_have_prometheus_types_and_move_with_messages(
        live: Any, auth: Any, message: Any, eventually: Any) -> None:
    before = await _scrape(live)
    # the parser drops `_total` from a counter family's name; the samples keep it
    assert {name: before[name].type for name in (
        "deskgate_e2e_seconds", "deskgate_tickets_applied", "deskgate_queue_depth",
        "deskgate_ingest_lag", "deskgate_redis_up")} == {
        "deskgate_e2e_seconds": "histogram", "deskgate_tickets_applied": "counter",
        "deskgate_queue_depth": "gauge", "deskgate_ingest_lag": "gauge",
        "deskgate_redis_up": "gauge"}
    assert _value(before, "deskgate_redis_up", "deskgate_redis_up") == 1
    buckets = [s for s in before["deskgate_e2e_seconds"].samples
               if s.name == "deskgate_e2e_seconds_bucket"]
    assert buckets[-1].labels["le"] == "+Inf" and len(buckets) > 5
    assert _value(before, "deskgate_e2e_seconds", "deskgate_e2e_seconds_count") == 0

    h = auth(Role.INTEGRATION)
    for i in range(3):
        resp = await live.post("/api/v1/messages", json=message(f"obs-{i}"), headers=h)
        assert resp.status == 202

    async def routed() -> dict[str, Any] | None:
        families = await _scrape(live)
        done = _value(families, "deskgate_e2e_seconds", "deskgate_e2e_seconds_count") == 3
        return families if done else None
    after = await eventually(routed)
    assert after["deskgate_messages_accepted"].type == "counter"
    assert _value(after, "deskgate_messages_accepted", "deskgate_messages_accepted_total",
                  channel="api", duplicate="false") == 3
    assert _value(after, "deskgate_tickets_applied", "deskgate_tickets_applied_total") == 3
    inf = [s for s in after["deskgate_e2e_seconds"].samples
           if s.name == "deskgate_e2e_seconds_bucket" and s.labels["le"] == "+Inf"]
    assert inf[0].value == 3
    # one customer's messages may thread into one ticket: at least one now waits
    assert sum(s.value for s in before["deskgate_queue_depth"].samples) == 0
    assert sum(s.value for s in after["deskgate_queue_depth"].samples) >= 1


async def test_a_dead_redis_shows_as_redis_up_zero(config: Config, data_dir: Path,
                                                   aiohttp_client: Any, free_port: Any) -> None:
    app = create_app(config, f"redis://127.0.0.1:{free_port()}/0", data_dir, run_workers=False)
    families = await _scrape(await aiohttp_client(app))
    assert _value(families, "deskgate_redis_up", "deskgate_redis_up") == 0
    assert "deskgate_queue_depth" not in families


async def test_access_log_names_the_route_template_not_the_request(
        config: Config, redis_url: str, data_dir: Path, aiohttp_client: Any, auth: Any,
        message: Any, eventually: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="deskgate.access")
    server = TestServer(create_app(config, redis_url, data_dir, run_workers=False))
    # what gateway/cli/serve.py gives its AppRunner
    await server.start_server(access_log_class=access_log.AccessLogger,
                              access_log=access_log.LOGGER)
    client = await aiohttp_client(server)
    h = auth(Role.MANAGER)
    token = h["Authorization"].split()[1]
    resp = await client.post("/api/v1/messages", json=message("acc-1"),
                             headers=auth(Role.INTEGRATION))
    mid = (await resp.json())["id"]
    caplog.clear()
    assert (await client.get(f"/api/v1/messages/{mid}?secret=hush", headers=h)).status == 200
    assert (await client.get("/no/such/place-42")).status == 404

    async def logged() -> list[logging.LogRecord]:
        # the line is written once the response has gone out, so it may trail the client
        found = [r for r in caplog.records if r.name == "deskgate.access"]
        return found if len(found) >= 2 else []
    lines = await eventually(logged)
    assert [(r.method, r.route, r.status) for r in lines] == [
        ("GET", "/api/v1/messages/{message_id}", 200), ("GET", "<unmatched>", 404)]
    text = "\n".join(r.getMessage() for r in lines)
    assert "route=/api/v1/messages/{message_id} status=200 duration_ms=" in text
    assert all(isinstance(r.duration_ms, float) for r in lines)
    for secret in (mid, "hush", "secret", token, "place-42"):
        assert secret not in text
