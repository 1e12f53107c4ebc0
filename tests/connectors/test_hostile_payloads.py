"""Authentic deliveries with hostile shapes, over real HTTP: each gets a clear 400 and is not
ingested, and the gateway keeps serving. (Found by an outsider's probe, not a provider's docs.)"""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import pytest

from deskgate.gateway.config import ConfigError
from deskgate.models.enums import Role
from deskgate.queue.keys import Keys
from deskgate.queue.tokens import create_token

WEB_SECRET = "site-secret-0123456789abcdef"
META_SECRET = "9f8e7d6c5b4a39281706f5e4d3c2b1a0"
TG_SECRET = "tg_secret-0123456789abcdef"

# Deeper than the interpreter's recursion limit, inside a field the typed decoder skips.
DEEP = b"[" * 100_000 + b"]" * 100_000


@pytest.fixture
async def hooks(hook_client):
    web = {"secret": WEB_SECRET}
    return await hook_client({
        "webchat": {"shop": web},
        "whatsapp": {"waba": {"app_secret": META_SECRET, "verify_token": "verify-0123456789"}},
        "telegram": {"bot": {"secret_token": TG_SECRET}}})


def _webchat(body: bytes) -> dict[str, str]:
    ts = str(int(time.time()))
    mac = hmac.new(WEB_SECRET.encode(), ts.encode() + b"." + body, hashlib.sha256).hexdigest()
    return {"X-Deskgate-Timestamp": ts, "X-Deskgate-Signature": f"sha256={mac}"}


def _meta(body: bytes) -> dict[str, str]:
    return {"X-Hub-Signature-256": "sha256=" + hmac.new(META_SECRET.encode(), body,
                                                         hashlib.sha256).hexdigest()}


CASES = {
    "webchat": ("/webhooks/webchat/shop",
                b'{"message_id":"m1","conversation_id":"c1","visitor":{"id":"v1"},'
                b'"text":"hi","extra":' + DEEP + b"}", _webchat),
    "whatsapp": ("/webhooks/whatsapp/waba",
                 b'{"object":"whatsapp_business_account","entry":[],"extra":' + DEEP + b"}",
                 _meta),
    "telegram": ("/webhooks/telegram/bot", b'{"update_id":1,"extra":' + DEEP + b"}",
                 lambda body: {"X-Telegram-Bot-Api-Secret-Token": TG_SECRET}),
}


@pytest.mark.parametrize("channel", sorted(CASES))
async def test_deeply_nested_json_is_a_clear_400_not_a_500(hooks, ingested, channel) -> None:
    path, body, headers = CASES[channel]
    resp = await hooks.post(path, data=body,
                            headers={**headers(body), "Content-Type": "application/json"})
    assert resp.status == 400
    assert "nested too deeply" in (await resp.json())["error"]["message"]
    assert ingested() == []
    health = await hooks.get("/healthz")
    assert health.status == 200 and json.loads(await health.text())["status"] == "ok"


@pytest.mark.parametrize("skew", [-5, 0, 2**63 - 1])
async def test_a_clock_window_out_of_range_is_refused_where_it_is_set(
        hook_client, r, prefix, skew) -> None:
    # Before: 2**63-1 was stored and every WeChat delivery then answered 503 (Redis refused
    # the nonce's expiry); -5 refused every delivery as stale.
    with pytest.raises(ConfigError, match="max_skew"):
        await hook_client({"wechat": {"oa": {"token": "wx-token-0123", "max_skew": skew}}})
    client = await hook_client({})
    admin = {"Authorization": f"Bearer {create_token(r, Keys(prefix), Role.ADMIN)[0]}"}
    resp = await client.put("/api/v1/channels/wechat/oa", headers=admin,
                            json={"token": "wx-token-0123", "max_skew": skew})
    assert resp.status == 422
    assert (await resp.json())["error"]["field"] == "max_skew"
    resp = await client.put("/api/v1/channels/webchat/shop", headers=admin,
                            json={"secret": WEB_SECRET, "max_skew": skew})
    assert resp.status == 422
