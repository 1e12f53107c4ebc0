"""Errors as clients meet them, over real HTTP: an id that is not one (a key suffix, a path)
is a 4xx naming the field, never a 500; Redis down is 503 with Retry-After on every route; the
agent-id rule is the same for the API and the CLI; every answer says nosniff; a body nested
deeper than any decoder can follow is a 400 on every route that reads one, never a 500."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redis

from deskgate.gateway.cli.main import main
from deskgate.gateway.config import Config
from deskgate.gateway.web.app import create_app
from deskgate.models.enums import Role
from deskgate.queue.keys import Keys
from deskgate.queue.redis_server import EmbeddedRedis
from deskgate.queue.tokens import create_token


@pytest.mark.parametrize("method, path, body, field", [
    ("GET", "/api/v1/tickets/seq", None, "ticket_id"),
    ("GET", "/api/v1/tickets/DG-6:msgs", None, "ticket_id"),
    ("GET", "/api/v1/agents/bo:tickets", None, "agent_id"),
    ("GET", "/api/v1/agents/bo:tickets/tickets", None, "agent_id"),
    ("GET", "/api/v1/audit?before=garbage", None, "before"),
    ("GET", "/api/v1/tickets?customer=c_1:ids", None, "customer"),
    ("GET", "/api/v1/audit?ticket=DG-1:history", None, "ticket"),
    ("GET", "/api/v1/models/jobs/..%2F..%2Fx", None, "job_id"),
    ("GET", "/api/v1/models/topic/..%2F..%2Fx", None, "version"),
    ("GET", "/api/v1/messages/m_..%2Fx", None, "message_id"),
    ("DELETE", "/api/v1/tokens/..%2Fx", None, "token_id"),
])
async def test_an_id_that_is_not_one_is_a_4xx_naming_the_field(
        client: Any, auth: Callable[..., dict[str, str]], method: str, path: str,
        body: dict | None, field: str) -> None:
    resp = await client.request(method, path, json=body, headers=auth(Role.ADMIN))
    error = (await resp.json())["error"]
    assert (resp.status, error["status"], error["field"]) == (422, 422, field), error
    assert "is not a" in error["message"]


async def test_a_transfer_to_an_agent_id_that_is_not_one_is_422(
        live: Any, auth: Callable[..., dict[str, str]], message: Callable[..., dict],
        eventually: Callable[..., Any]) -> None:
    # The ticket must exist: the ticket policy answers 404 for a missing one before the body is
    # read, so the body's id is checked on a real ticket.
    post = await live.post("/api/v1/messages", headers=auth(Role.INTEGRATION),
                           json=message("bad-transfer"))
    mid = (await post.json())["id"]

    async def ticket_id() -> str | None:
        resp = await live.get(f"/api/v1/messages/{mid}", headers=auth(Role.ADMIN))
        return (await resp.json()).get("ticket_id")
    tid = await eventually(ticket_id)
    resp = await live.post(f"/api/v1/tickets/{tid}/transfer", headers=auth(Role.ADMIN),
                           json={"agent": "bo:tickets"})
    error = (await resp.json())["error"]
    assert (resp.status, error["field"]) == (422, "agent"), error
    assert "is not a" in error["message"]


async def test_a_unicode_agent_id_works_from_the_cli_to_a_token_to_the_api(
        client: Any, auth: Callable[..., dict[str, str]], redis_url: str, keys: Keys,
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setenv("DESKGATE_REDIS_URL", redis_url)
    conf = tmp_path / "c.yaml"
    conf.write_text(f'redis_prefix: "{keys.p}"\n')
    assert await asyncio.to_thread(
        main, ["agent", "add", "李雷", "--skills", "billing", "--config", str(conf)]) == 0
    resp = await client.post("/api/v1/tokens", json={"role": "agent", "agent_id": "李雷"},
                             headers=auth(Role.ADMIN))
    assert resp.status == 201, await resp.text()
    token = (await resp.json())["token"]
    mine = await client.get("/api/v1/agents/李雷", headers={"Authorization": f"Bearer {token}"})
    assert mine.status == 200 and (await mine.json())["id"] == "李雷"
    capsys.readouterr()
    with pytest.raises(SystemExit) as exited:
        main(["agent", "add", "bo:tickets", "--skills", "billing", "--config", str(conf)])
    assert exited.value.code == 2 and "is not a agent id" in capsys.readouterr().err
    refused = await client.post("/api/v1/tokens", json={"role": "agent", "agent_id": "a/b"},
                                headers=auth(Role.ADMIN))
    assert refused.status == 422 and (await refused.json())["error"]["field"] == "agent_id"


async def test_with_redis_down_a_cached_token_gets_503_with_retry_after(
        aiohttp_client: Any, tmp_path: Path, prefix: str, data_dir: Path) -> None:
    own = EmbeddedRedis(tmp_path / "own-redis")     # this test's own Redis, to stop
    own.start()
    try:
        client = await aiohttp_client(create_app(Config(redis_prefix=prefix), own.url,
                                                 data_dir, run_workers=False))
        with redis.Redis.from_url(own.url) as r:
            token = create_token(r, Keys(prefix), Role.MANAGER)[0]
        headers = {"Authorization": f"Bearer {token}"}
        assert (await client.get("/api/v1/queues", headers=headers)).status == 200
    finally:
        own.stop()
    for path in ("/api/v1/queues", "/api/v1/tickets", "/api/v1/tickets/DG-1", "/api/v1/review",
                 "/api/v1/audit"):
        resp = await client.get(path, headers=headers)
        assert resp.status == 503, (path, await resp.text())
        assert resp.headers["Retry-After"] == "5"
        assert (await resp.json())["error"]["message"] == "storage unavailable, retry later"


async def test_every_answer_says_nosniff(client: Any) -> None:
    for path in ("/healthz", "/api/v1/openapi.json", "/api/v1/tickets", "/no/such/page"):
        resp = await client.get(path)
        assert resp.headers.get("X-Content-Type-Options") == "nosniff", path


def nested(depth: int) -> bytes:
    """{"a":{"a":...1...}}: valid JSON (and YAML) nested `depth` deep, under 16 KB at 2,500."""
    return b'{"a":' * depth + b"1" + b"}" * depth


# Every route that decodes a body (the admin documents and settings are JSON or YAML).
@pytest.mark.parametrize("method, path, role", [
    ("PUT", "/api/v1/channels/telegram/deep", Role.ADMIN),
    ("PUT", "/api/v1/routing", Role.ADMIN),
    ("PUT", "/api/v1/sla", Role.ADMIN),
    ("POST", "/api/v1/tokens", Role.ADMIN),
    ("POST", "/api/v1/models/import", Role.ADMIN),
    ("POST", "/api/v1/models/train", Role.ADMIN),
    ("PUT", "/api/v1/agents/deep", Role.ADMIN),
    ("POST", "/api/v1/messages", Role.INTEGRATION),
    ("POST", "/console/login", None),
])
async def test_a_deeply_nested_body_is_a_400_not_a_500(
        client: Any, auth: Callable[..., dict[str, str]], method: str, path: str,
        role: Role | None) -> None:
    headers = {"Content-Type": "application/json", **(auth(role) if role else {})}
    for body in (nested(2_500), b"[" * 2_500 + b"]" * 2_500):
        resp = await client.request(method, path, data=body, headers=headers)
        error = (await resp.json())["error"]
        # a wrong shape at the top (an array, an unknown field) may be found before the depth
        assert resp.status in (400, 422), (resp.status, error)
        if resp.status == 400:
            assert "nested too deep" in error["message"]
    if role is Role.ADMIN and not path.startswith(("/api/v1/tokens", "/api/v1/models",
                                                   "/api/v1/agents")):
        resp = await client.request(method, path, data=nested(2_500), headers=headers)
        assert resp.status == 400        # these take any object: only the depth stops them


async def test_a_yaml_document_with_aliases_is_refused_before_it_unfolds(
        client: Any, auth: Callable[..., dict[str, str]]) -> None:
    laughs = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{n}: &{n} [{', '.join([f'*{p}'] * 9)}]\n"
        for p, n in zip("abcdefghijklmnopqrst", "bcdefghijklmnopqrstu", strict=True))
    for path in ("/api/v1/routing", "/api/v1/sla"):
        resp = await client.put(path, data=laughs, headers=auth(Role.ADMIN))
        assert resp.status == 400
        assert "aliases" in (await resp.json())["error"]["message"]
