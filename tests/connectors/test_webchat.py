"""Our own web-chat (JSON) and web-form (form post) webhooks over real HTTP, signed with the
documented HMAC-SHA256 over "<timestamp>." + body."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import pytest

from deskgate.gateway.config import ConfigError
from deskgate.models.enums import IdentityKind

SECRET = "site-secret-0123456789abcdef"


def sign(body: bytes, ts: int | None = None, secret: str = SECRET) -> dict[str, str]:
    ts = int(time.time()) if ts is None else ts
    mac = hmac.new(secret.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    return {"X-Deskgate-Timestamp": str(ts), "X-Deskgate-Signature": f"sha256={mac}"}


@pytest.fixture
async def site(hook_client):
    account = {"secret": SECRET, "media_hosts": ["uploads.shop.example.com"]}
    return await hook_client({"webchat": {"shop": account}, "webform": {"shop": account}})


async def chat(client, body: bytes, **kw):
    return await client.post("/webhooks/webchat/shop", data=body,
                             headers={**sign(body, **kw), "Content-Type": "application/json"})


async def form(client, body: bytes, **kw):
    return await client.post("/webhooks/webform/shop", data=body, headers={
        **sign(body, **kw), "Content-Type": "application/x-www-form-urlencoded"})


async def test_chat_message_carries_visitor_email_and_phone_as_identities(
        site, payload, ingested) -> None:
    resp = await chat(site, payload("webchat", "message.json"))
    assert resp.status == 200
    [msg] = ingested()
    assert (await resp.json()) == {"ids": [msg.id]}
    assert (msg.channel, msg.external_id, msg.thread_key) == ("webchat", "wc-msg-000123",
                                                              "conv-8f14e45f")
    assert msg.text == "你好！我想修改收货地址 🏠 order DD20231115002"
    assert [(i.kind, i.value) for i in msg.sender.identities] == [
        (IdentityKind.PLATFORM, "webchat:shop:visitor-42"),
        (IdentityKind.EMAIL, "chen.jing@example.com"),
        (IdentityKind.PHONE, "+8613800138001")]
    assert msg.sender.name == "陈静"
    upload, sneaky = msg.attachments
    assert upload.ref == "https://uploads.shop.example.com/chat/2023/11/address.png"
    assert (upload.name, upload.size) == ("address.png", 48213)
    assert sneaky.ref == "blocked:http://127.0.0.1:6379/"


async def test_form_post_in_chinese(site, payload, ingested) -> None:
    resp = await form(site, payload("webform", "contact.txt"))
    assert resp.status == 200
    [msg] = ingested()
    assert (msg.channel, msg.external_id) == ("webform", "form-7781")
    assert (msg.subject, msg.text) == ("发票问题", "请帮我开增值税专用发票 🙏")
    assert [(i.kind, i.value) for i in msg.sender.identities] == [
        (IdentityKind.EMAIL, "zhang.wei@example.com"), (IdentityKind.PHONE, "+8613800138002")]


async def test_form_without_submission_id_is_deduplicated_on_its_content(site,
                                                                         ingested) -> None:
    body = b"email=a%40example.com&message=hello+%F0%9F%91%8B"
    for _ in range(2):
        assert (await form(site, body)).status == 200
    [msg] = ingested()
    assert msg.text == "hello 👋" and msg.external_id.startswith("sha256:")


async def test_replay_within_the_window_is_one_message_and_stale_is_refused(
        site, payload, ingested, rejected) -> None:
    body = payload("webchat", "message.json")
    headers = {**sign(body), "Content-Type": "application/json"}
    for _ in range(2):
        assert (await site.post("/webhooks/webchat/shop", data=body, headers=headers)).status \
            == 200
    assert len(ingested()) == 1
    assert (await chat(site, body, ts=int(time.time()) - 3600)).status == 403
    assert await rejected(site, "webchat", "stale_timestamp") == 1


async def test_bad_signature_and_moved_timestamp_are_refused(site, payload, ingested,
                                                             rejected) -> None:
    body = payload("webchat", "message.json")
    assert (await chat(site, body, secret="another-secret-0123456789")).status == 403
    moved = sign(body)
    moved["X-Deskgate-Timestamp"] = str(int(moved["X-Deskgate-Timestamp"]) + 1)
    resp = await site.post("/webhooks/webchat/shop", data=body, headers=moved)
    assert resp.status == 403
    assert (await site.post("/webhooks/webchat/shop", data=body,
                            headers={"X-Deskgate-Timestamp": str(int(time.time()))})).status \
        == 401
    assert (await form(site, b"email=a%40b.com&message=x", secret="x" * 20)).status == 403
    assert ingested() == []
    assert await rejected(site, "webchat", "bad_signature") == 2
    assert await rejected(site, "webchat", "missing_signature") == 1
    assert await rejected(site, "webform", "bad_signature") == 1


@pytest.mark.parametrize("doc, reason", [
    ({"conversation_id": "c", "visitor": {"id": "v"}, "text": "x"}, "message_id"),
    ({"message_id": "m", "conversation_id": "c", "visitor": {"id": "v"}}, "text or attach"),
    ({"message_id": "m", "conversation_id": "c", "visitor": {"id": "v", "email": "nope"},
      "text": "x"}, "not an email"),
    ({"message_id": "m 1", "conversation_id": "c", "visitor": {"id": "v"}, "text": "x"},
     "message_id"),
    (b'{"message_id": "m", "conversation_id": "c\xc3", "visitor": {"id": "v"}}',
     "malformed JSON"),
])
async def test_malformed_chat_messages_are_400(site, ingested, doc, reason) -> None:
    resp = await chat(site, json.dumps(doc).encode() if isinstance(doc, dict) else doc)
    assert resp.status == 400
    assert reason in (await resp.json())["error"]["message"]
    assert ingested() == []


@pytest.mark.parametrize("body, reason", [
    (b"message=hi", "email or a phone"),
    (b"email=a%40b.com&message=hi&email=c%40d.com", "given twice"),
    (b"email=a%40b.com&message=hi&is_admin=1", "unknown form fields"),
    (b"email=a%40b.com&message=%FF", "malformed form"),
])
async def test_malformed_forms_are_400(site, ingested, body, reason) -> None:
    resp = await form(site, body)
    assert resp.status == 400
    assert reason in (await resp.json())["error"]["message"]
    assert ingested() == []


async def test_oversized_body_is_413_before_anything_else(site, ingested) -> None:
    body = b'{"text": "' + b"x" * 300_000 + b'"}'
    assert (await chat(site, body)).status == 413
    assert ingested() == []


async def test_get_on_a_channel_without_handshake_is_400(site) -> None:
    assert (await site.get("/webhooks/webchat/shop")).status == 400


@pytest.mark.parametrize("channels, words", [
    ({"webchat": {"shop": {"secret": SECRET, "secert": "typo"}}}, ["channels.webchat", "secert",
                                                                   "'shop'"]),
    ({"webchat": {"shop": {"secret": "short"}}}, ["secret must be at least 16"]),
    ({"wecom": {"corp": {"token": "t", "corp_id": "c", "encoding_aes_key": "x"}}},
     ["encoding_aes_key must be the 43 characters"]),
    ({"twilio": {"bad name!": {"auth_token": "1" * 32}}}, ["account name"]),
])
async def test_account_settings_are_validated_at_start_with_clear_errors(hook_client, channels,
                                                                         words) -> None:
    with pytest.raises(ConfigError) as err:
        await hook_client(channels)
    assert all(w in str(err.value) for w in words), str(err.value)
