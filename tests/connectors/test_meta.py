"""WhatsApp Cloud API, Messenger and Instagram webhooks over real HTTP, signed here with
X-Hub-Signature-256 exactly as Meta signs (HMAC-SHA256 of the raw body with the app secret)."""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import urlencode

import pytest

from deskgate.models.enums import IdentityKind, MessageKind

SECRET = "9f8e7d6c5b4a39281706f5e4d3c2b1a0"
VERIFY = "deskgate-verify-token"
ACCOUNT = {"app_secret": SECRET, "verify_token": VERIFY}


def meta_headers(body: bytes, secret: str = SECRET) -> dict[str, str]:
    sig = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"X-Hub-Signature-256": f"sha256={sig}", "Content-Type": "application/json"}


@pytest.fixture
async def meta(hook_client):
    return await hook_client({"whatsapp": {"waba": ACCOUNT}, "messenger": {"page": ACCOUNT},
                              "instagram": {"ig": ACCOUNT}})


async def post(client, path: str, body: bytes, secret: str = SECRET):
    return await client.post(path, data=body, headers=meta_headers(body, secret))


async def test_whatsapp_text_is_ingested_with_wa_id_and_e164_phone(meta, payload,
                                                                   ingested) -> None:
    resp = await post(meta, "/webhooks/whatsapp/waba", payload("whatsapp", "text.json"))
    assert resp.status == 200 and await resp.text() == "EVENT_RECEIVED"
    [msg] = ingested()
    assert msg.channel == "whatsapp" and msg.kind == MessageKind.MESSAGE
    assert msg.external_id == "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA="
    assert msg.text == "Does it come in another color?"
    assert msg.sender.name == "Sheena Nelson"
    assert [(i.kind, i.value) for i in msg.sender.identities] == [
        (IdentityKind.PLATFORM, "whatsapp:waba:16505551234"),
        (IdentityKind.PHONE, "+16505551234")]
    assert msg.thread_key == "106540352242922:16505551234"
    assert msg.received_at.timestamp() == 1749416383


async def test_whatsapp_media_chinese_caption_emoji_and_documents(meta, payload,
                                                                  ingested) -> None:
    for name in ("image_zh.json", "document.json"):
        assert (await post(meta, "/webhooks/whatsapp/waba", payload("whatsapp", name))).status \
            == 200
    image, doc = ingested()
    assert image.text == "收到的商品坏了，看图 📦💔"
    assert image.sender.name == "王小明"
    assert image.sender.identities[1].value == "+8613800138000"
    assert image.attachments[0].ref == "whatsapp-media:1003383421387256"
    assert image.attachments[0].content_type == "image/jpeg"
    assert (doc.attachments[0].name, doc.attachments[0].content_type) == ("receipt.pdf",
                                                                          "application/pdf")
    assert doc.text == "Here is the receipt"


async def test_whatsapp_interactive_reply_and_status(meta, payload, ingested) -> None:
    for name in ("interactive_button.json", "status.json"):
        assert (await post(meta, "/webhooks/whatsapp/waba", payload("whatsapp", name))).status \
            == 200
    reply, status = ingested()
    assert reply.text == "Cancel my order" and reply.kind == MessageKind.MESSAGE
    assert reply.meta["reply_to"].startswith("wamid.")
    assert status.kind == MessageKind.STATUS and status.meta["status"] == "delivered"


@pytest.mark.parametrize("path, channel", [("/webhooks/whatsapp/waba", "whatsapp"),
                                           ("/webhooks/messenger/page", "messenger"),
                                           ("/webhooks/instagram/ig", "instagram")])
async def test_retries_are_one_message(meta, payload, ingested, path, channel) -> None:
    body = payload(channel, "text.json")
    for _ in range(3):
        assert (await post(meta, path, body)).status == 200
    assert len(ingested()) == 1


async def test_bad_or_missing_signature_is_refused_and_counted(meta, payload, ingested,
                                                               rejected) -> None:
    body = payload("whatsapp", "text.json")
    assert (await post(meta, "/webhooks/whatsapp/waba", body, secret="wrong")).status == 403
    tampered = body.replace(b"another color", b"refund to me")
    resp = await meta.post("/webhooks/whatsapp/waba", data=tampered, headers=meta_headers(body))
    assert resp.status == 403
    assert (await meta.post("/webhooks/whatsapp/waba", data=body)).status == 401
    assert (await post(meta, "/webhooks/messenger/page", payload("messenger", "text.json"),
                       secret="wrong")).status == 403
    assert ingested() == []
    assert await rejected(meta, "whatsapp", "bad_signature") == 2
    assert await rejected(meta, "whatsapp", "missing_signature") == 1
    assert await rejected(meta, "messenger", "bad_signature") == 1


@pytest.mark.parametrize("body, reason", [
    (b'{"object": "whatsapp_business_account", "entry": [', "malformed JSON"),
    (b'{"object": "whatsapp_business_account"}', "entry"),
    (b'{"object": "whatsapp_business_account", "entry": [{"changes": [{"field": "messages",'
     b' "value": {"messages": [{"from": "1"}]}}]}]}', "id"),
])
async def test_malformed_bodies_are_400_with_the_reason(meta, ingested, body, reason) -> None:
    resp = await post(meta, "/webhooks/whatsapp/waba", body)
    assert resp.status == 400
    assert reason in (await resp.json())["error"]["message"]
    assert ingested() == []


@pytest.mark.parametrize("body, reason", [
    (b'{"object": "page", "entry": [{"messaging": [{"recipient": {"id": "1"}}]}]}', "sender"),
    (b'{"object": "page", "entry": [{"messaging": [{"sender": {"id": "2"}, "recipient": '
     b'{"id": "1"}, "message": {"text": "no mid"}}]}]}', "mid"),
    (b"\xff\xfe", "malformed JSON"),
])
async def test_malformed_messenger_events_are_400(meta, ingested, body, reason) -> None:
    resp = await post(meta, "/webhooks/messenger/page", body)
    assert resp.status == 400
    assert reason in (await resp.json())["error"]["message"]
    assert ingested() == []


async def test_unknown_change_field_is_acknowledged_and_recorded(meta, ingested) -> None:
    body = (b'{"object": "whatsapp_business_account", "entry": [{"id": "102290129340398", '
            b'"changes": [{"field": "account_update", "value": {"event": "VERIFIED_ACCOUNT"}}]}]}')
    assert (await post(meta, "/webhooks/whatsapp/waba", body)).status == 200
    assert (await post(meta, "/webhooks/whatsapp/waba", body)).status == 200
    [event] = ingested()
    assert event.kind == MessageKind.EVENT and "account_update" in event.kind_reason


async def test_subscription_handshake_returns_the_challenge(meta) -> None:
    q = {"hub.mode": "subscribe", "hub.verify_token": VERIFY, "hub.challenge": "1158201444"}
    resp = await meta.get(f"/webhooks/whatsapp/waba?{urlencode(q)}")
    assert resp.status == 200 and await resp.text() == "1158201444"
    assert resp.headers["X-Content-Type-Options"] == "nosniff"    # the echo is not a page
    q["hub.verify_token"] = "guess"
    assert (await meta.get(f"/webhooks/messenger/page?{urlencode(q)}")).status == 403


async def test_messenger_text_attachments_postback_echo_and_receipts(meta, payload,
                                                                     ingested) -> None:
    for name in ("text.json", "attachment.json", "postback.json", "echo.json",
                 "delivery.json"):
        resp = await post(meta, "/webhooks/messenger/page", payload("messenger", name))
        assert resp.status == 200 and await resp.text() == "EVENT_RECEIVED"
    text, media, postback, echo, delivery, reaction = ingested()
    assert text.text == "hello, world!" and text.external_id == \
        "mid.1457764197618:41d102a3e1ae206a38"
    assert text.sender.identities[0].value == "messenger:page:6543210987654321"
    assert text.thread_key == "103201234567890:6543210987654321"
    assert text.meta["quick_reply"] == "DEVELOPER_DEFINED_PAYLOAD"
    assert media.text == "订单截图在这里 🧾"
    assert media.attachments[0].ref.startswith("https://scontent.xx.fbcdn.net/")
    # a payload URL pointing inside our network is recorded, never made fetchable
    assert media.attachments[1].ref == "blocked:http://169.254.169.254/latest/meta-data/"
    assert (postback.text, postback.kind, postback.meta["postback"]) == (
        "Talk to an agent", MessageKind.MESSAGE, "HUMAN_AGENT")
    assert echo.kind == MessageKind.OWN
    assert echo.thread_key == text.thread_key        # the customer is the echo's recipient
    assert delivery.kind == MessageKind.STATUS
    assert reaction.kind == MessageKind.EVENT


async def test_instagram_message_with_emoji(meta, payload, ingested) -> None:
    resp = await post(meta, "/webhooks/instagram/ig", payload("instagram", "text.json"))
    assert resp.status == 200
    [msg] = ingested()
    assert msg.channel == "instagram" and msg.text == "Hi! Is the blue jacket still in stock? 🧥"
    assert msg.sender.identities[0].value == "instagram:ig:1914523148606937"


async def test_a_page_payload_on_the_instagram_route_is_recorded_not_ticketed(
        meta, payload, ingested) -> None:
    resp = await post(meta, "/webhooks/instagram/ig", payload("messenger", "text.json"))
    assert resp.status == 200
    [event] = ingested()
    assert event.kind == MessageKind.EVENT and event.kind_reason == "object page"
