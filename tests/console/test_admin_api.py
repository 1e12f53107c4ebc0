"""Admin APIs behind the console's Channels and SLA views, over real HTTP: channel accounts
with write-only secrets, validated by their connector, hot-reloaded by every gateway's webhook
route and audited; teams and SLA policies stored, validated and picked up by the workers."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import redis

from deskgate.connectors.wechat_crypto import sha1_signature
from deskgate.gateway.config import Config, WorkerConfig
from deskgate.gateway.web.app import create_app
from deskgate.models.enums import Role
from deskgate.queue.keys import Keys
from deskgate.queue.live_document import REFRESH_SECONDS

Token = Callable[..., str]
Eventually = Callable[..., Awaitable[Any]]
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
TG_SECRET = "tg-Secret_0123456789abcdefXY"
FILE_TOKEN = "token-from-the-config-file"
NEW_TOKEN = "token-set-by-an-admin-42"
TELEGRAM = (FIXTURES / "telegram" / "message.json").read_bytes()
WECHAT = (FIXTURES / "wechat" / "text_zh.xml").read_bytes()


def admin(token: Token) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(Role.ADMIN, label='ops')}"}


def wechat_query(token: str, nonce: str) -> str:
    ts = str(int(time.time()))
    return urlencode({"signature": sha1_signature(token, ts, nonce), "timestamp": ts,
                      "nonce": nonce})


async def tg_delivery(client: Any, secret: str, account: str = "bot1") -> int:
    resp = await client.post(f"/webhooks/telegram/{account}", data=TELEGRAM, headers={
        "Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": secret})
    return resp.status


@pytest.fixture
def file_config(prefix: str) -> Config:
    return Config(redis_prefix=prefix, workers=WorkerConfig(block_ms=50, lease_seconds=60),
                  channels={"wechat": {"main": {"token": FILE_TOKEN, "skill": "cn"}}})


@pytest.fixture
async def gateways(aiohttp_client: Any, file_config: Config, redis_url: str,
                   data_dir: Path) -> tuple[Any, Any]:
    """Two gateways sharing one Redis, as behind a load balancer."""
    return (await aiohttp_client(create_app(file_config, redis_url, data_dir, run_workers=False)),
            await aiohttp_client(create_app(file_config, redis_url, data_dir, run_workers=False)))


async def test_channels_list_every_connector_with_its_fields_and_secrets_marked(
        client: Any, token: Token) -> None:
    resp = await client.get("/api/v1/channels", headers=admin(token))
    assert resp.status == 200
    channels = {c["channel"]: c for c in (await resp.json())["channels"]}
    assert {"wechat", "wecom", "telegram", "whatsapp", "messenger", "instagram", "twilio",
            "webchat", "webform", "line"} <= set(channels)
    fields = {f["name"]: f for f in channels["wechat"]["fields"]}
    assert fields["token"]["secret"] and fields["token"]["required"]
    assert fields["encoding_aes_key"]["secret"] and not fields["encoding_aes_key"]["required"]
    assert not fields["app_id"]["secret"] and fields["max_skew"]["type"] == "integer"
    assert fields["max_skew"]["default"] == 300
    meta = {f["name"]: f["secret"] for f in channels["whatsapp"]["fields"]}
    assert meta == {"app_secret": True, "verify_token": True, "default_region": False,
                    "skill": False, "access_token": True, "phone_number_id": False,
                    "human_agent": False, "api_base": False, "templates": False}
    templates = {f["name"]: f for f in channels["whatsapp"]["fields"]}["templates"]
    assert templates["type"] == "json" and templates["default"] == []
    # every outbound credential is write-only too
    for channel, secret in (("telegram", "bot_token"), ("wechat", "app_secret"),
                            ("wecom", "kf_secret"), ("line", "channel_access_token"),
                            ("line", "channel_secret"), ("twilio", "auth_token")):
        assert {f["name"]: f["secret"] for f in channels[channel]["fields"]}[secret], secret
    for role in (Role.MANAGER, Role.AGENT):
        denied = await client.get("/api/v1/channels",
                                  headers={"Authorization": f"Bearer {token(role, 'x')}"})
        assert denied.status == 403


async def test_a_new_account_verifies_deliveries_and_its_secret_is_never_shown(
        gateways: tuple[Any, Any], token: Token, r: redis.Redis, prefix: str,
        eventually: Eventually) -> None:
    a, b = gateways
    assert await tg_delivery(b, TG_SECRET) == 404          # b has looked: cached "no account"
    resp = await a.put("/api/v1/channels/telegram/bot1", headers=admin(token),
                       json={"secret_token": TG_SECRET, "skill": "billing"})
    assert resp.status == 200, await resp.text()
    text = await resp.text()
    assert TG_SECRET not in text and TG_SECRET[:-2] not in text
    saved = json.loads(text)
    assert saved["secrets"]["secret_token"] == {"set": True, "ends": "XY"}
    assert saved["settings"] == {"skill": "billing"}
    assert saved["source"] == "admin API"
    assert saved["webhook_url"].endswith("/webhooks/telegram/bot1")
    listing = await (await a.get("/api/v1/channels", headers=admin(token))).text()
    assert TG_SECRET not in listing and '"bot1"' in listing

    assert await tg_delivery(a, TG_SECRET) == 200          # at once on the gateway that saved
    assert await eventually(lambda: _accepted(b)) == 200    # and within a second on the other
    assert await tg_delivery(a, "wrong-secret-0123456789") == 403
    assert r.xlen(f"{prefix}ingest") == 1                   # the same update twice: one message

    # editing without the secret keeps it; the audit names fields, never the secret
    resp = await a.put("/api/v1/channels/telegram/bot1", headers=admin(token),
                       json={"skill": "care", "default_region": "GB"})
    assert resp.status == 200
    assert (await resp.json())["secrets"]["secret_token"]["set"] is True
    assert await tg_delivery(a, TG_SECRET) == 200
    audit = [{k.decode(): v.decode() for k, v in f.items()}
             for _, f in r.xrange(f"{prefix}audit")]
    saves = [e for e in audit if e["action"] == "channel_account_saved"]
    assert [e["detail"] for e in saves] == [
        "telegram/bot1: changed: secret_token replaced, skill",
        "telegram/bot1: changed: default_region, skill"]
    assert all(TG_SECRET not in json.dumps(e) for e in audit)

    resp = await a.delete("/api/v1/channels/telegram/bot1", headers=admin(token))
    assert resp.status == 200
    assert await tg_delivery(a, TG_SECRET) == 404
    assert (await a.delete("/api/v1/channels/telegram/bot1", headers=admin(token))).status == 404


async def _accepted(client: Any) -> int | None:
    status = await tg_delivery(client, TG_SECRET)
    return status if status == 200 else None


async def test_an_admin_override_of_a_file_account_and_its_removal(
        gateways: tuple[Any, Any], token: Token) -> None:
    a, _ = gateways
    body = await (await a.get("/api/v1/channels", headers=admin(token))).json()
    [wechat] = [c for c in body["channels"] if c["channel"] == "wechat"]
    [main] = wechat["accounts"]
    assert main["source"] == "config file" and main["settings"]["skill"] == "cn"
    assert main["secrets"]["token"] == {"set": True, "ends": "le"}
    assert FILE_TOKEN not in json.dumps(body)

    ok = await a.post(f"/webhooks/wechat/main?{wechat_query(FILE_TOKEN, 'n1')}", data=WECHAT)
    assert ok.status == 200
    resp = await a.put("/api/v1/channels/wechat/main", headers=admin(token),
                       json={"token": NEW_TOKEN, "skill": "cn"})
    assert (await resp.json())["source"] == "admin API, overriding the config file"
    old = await a.post(f"/webhooks/wechat/main?{wechat_query(FILE_TOKEN, 'n2')}", data=WECHAT)
    assert old.status == 403
    new = await a.post(f"/webhooks/wechat/main?{wechat_query(NEW_TOKEN, 'n3')}", data=WECHAT)
    assert new.status == 200 and await new.text() == "success"

    resp = await a.delete("/api/v1/channels/wechat/main", headers=admin(token))
    assert (await resp.json())["source"] == "config file"
    back = await a.post(f"/webhooks/wechat/main?{wechat_query(FILE_TOKEN, 'n4')}", data=WECHAT)
    assert back.status == 200
    gone = await a.delete("/api/v1/channels/wechat/main", headers=admin(token))
    assert gone.status == 409 and "config file" in (await gone.json())["error"]["message"]


@pytest.mark.parametrize(("path", "body", "status", "field"), [
    ("telegram/bot1", {"secret_token": "short"}, 422, "secret_token"),
    ("telegram/bot1", {"secret_token": TG_SECRET, "skill": 7}, 422, "skill"),
    ("telegram/bot1", {}, 422, "secret_token"),
    ("telegram/bot1", {"secret_token": TG_SECRET, "colour": "red"}, 422, "colour"),
    ("wechat/main2", {"token": "t0k3n", "encoding_aes_key": "not-43-chars"}, 422,
     "encoding_aes_key"),
    ("wechat/main2", {"token": "t0k3n", "encoding_aes_key": "a" * 43}, 422, None),  # AppID
    ("twilio/sms", {"auth_token": "123"}, 422, "auth_token"),
    ("telegram/bad name!", {"secret_token": TG_SECRET}, 422, "account"),
    ("fax/main", {"token": "x"}, 404, "channel"),
])
async def test_bad_accounts_are_refused_naming_the_field(
        client: Any, token: Token, path: str, body: dict[str, Any], status: int,
        field: str | None, r: redis.Redis, prefix: str) -> None:
    resp = await client.put(f"/api/v1/channels/{path}", headers=admin(token), json=body)
    assert resp.status == status, await resp.text()
    error = (await resp.json())["error"]
    assert error.get("field") == field, error
    assert error["message"] and "channels." not in error["message"]
    assert not r.exists(Keys(prefix).channels)


async def test_channel_bodies_are_bounded_and_must_be_objects(client: Any, token: Token) -> None:
    path = "/api/v1/channels/telegram/bot1"
    assert (await client.put(path, headers=admin(token), data=b"[1]")).status == 422
    assert (await client.put(path, headers=admin(token), data=b"{nope")).status == 400
    big = json.dumps({"secret_token": TG_SECRET, "skill": "x" * 20_000})
    assert (await client.put(path, headers=admin(token), data=big)).status == 413
    agent = {"Authorization": f"Bearer {token(Role.AGENT, 'ann')}"}
    assert (await client.put(path, headers=agent, json={"secret_token": TG_SECRET})).status == 403


SLA_DOC = {
    "teams": {"care": {"skills": ["care", "general"], "managers": ["mia"],
                       "calendar": {"timezone": "Asia/Shanghai",
                                    "hours": {"mon": ["09:00-18:00"]}},
                       "webhook_url": "https://hooks.example.com/sla",
                       "webhook_secret": "whsec-0123456789abcdef"}},
    "sla": [{"name": "gold-24x7", "first_response_minutes": 15, "resolution_minutes": 240,
             "business_hours": False}],
}


async def test_sla_policies_are_validated_stored_and_used_by_the_workers(
        live: Any, token: Token, r: redis.Redis, prefix: str, eventually: Eventually) -> None:
    headers = admin(token)
    first = await (await live.get("/api/v1/sla", headers=headers)).json()
    assert first["source"] == "config file"
    assert [p["name"] for p in first["config"]["sla"]] == ["urgent", "high", "normal", "low"]

    bad = json.loads(json.dumps(SLA_DOC))
    bad["sla"][0]["warn_at"] = 2
    resp = await live.put("/api/v1/sla", headers=headers, json=bad)
    assert resp.status == 422
    assert "warn_at must be between 0 and 1" in (await resp.json())["error"]["message"]
    resp = await live.put("/api/v1/sla", headers=headers, data="teams: [1, 2")
    assert resp.status == 400 and "YAML" in (await resp.json())["error"]["message"]
    tz = json.loads(json.dumps(SLA_DOC))
    tz["teams"]["care"]["calendar"]["timezone"] = "Mars/Olympus"
    resp = await live.put("/api/v1/sla", headers=headers, json=tz)
    assert resp.status == 422 and "Mars/Olympus" in (await resp.json())["error"]["message"]
    assert not r.exists(Keys(prefix).work)

    resp = await live.put("/api/v1/sla", headers=headers, json=SLA_DOC)
    assert resp.status == 200, await resp.text()
    text = await resp.text()
    assert "whsec-0123456789abcdef" not in text
    assert json.loads(text)["config"]["secrets"] == {"teams.care.webhook_secret": {"set": True}}

    # the document as the console edits it (no secret) keeps the stored secret
    edited = (await (await live.get("/api/v1/sla", headers=headers)).json())["config"]
    assert "webhook_secret" not in edited["teams"]["care"]
    edited.pop("secrets")
    edited["sla"][0]["resolution_minutes"] = 180
    resp = await live.put("/api/v1/sla", headers=headers, json=edited)
    assert resp.status == 200, await resp.text()
    stored = json.loads(r.hget(Keys(prefix).work, "json"))
    assert stored["teams"]["care"]["webhook_secret"] == "whsec-0123456789abcdef"
    assert stored["sla"][0]["resolution_minutes"] == 180

    # a new ticket gets the new policy from the running worker, without a restart (the
    # worker re-reads the document at most REFRESH_SECONDS after its last look)
    await asyncio.sleep(REFRESH_SECONDS + 0.2)
    integration = {"Authorization": f"Bearer {token(Role.INTEGRATION)}"}
    resp = await live.post("/api/v1/messages", headers=integration, json={
        "external_id": "s1", "sender": {"email": "li@example.cn"}, "text": "发票开错了"})
    assert resp.status in (200, 202)

    async def policy() -> str | None:
        page = await (await live.get("/api/v1/tickets", headers=headers)).json()
        return (page["tickets"][0].get("sla") or {}).get("policy") if page["tickets"] else None

    assert await eventually(policy) == "gold-24x7"
    audit = [f[b"action"] for _, f in r.xrange(f"{prefix}audit")]
    assert audit.count(b"sla_updated") == 2

    reset = await live.delete("/api/v1/sla", headers=headers)
    assert (await reset.json())["source"] == "config file"
    again = await (await live.get("/api/v1/sla", headers=headers)).json()
    assert again["source"] == "config file" and len(again["config"]["sla"]) == 4
    manager = {"Authorization": f"Bearer {token(Role.MANAGER, 'mia')}"}
    assert (await live.put("/api/v1/sla", headers=manager, json=SLA_DOC)).status == 403
