"""Telegram Bot API webhooks over real HTTP, authenticated by the setWebhook secret_token."""

from __future__ import annotations

import pytest

from deskgate.gateway.config import ConfigError
from deskgate.models.enums import IdentityKind, MessageKind

SECRET = "tg_secret-0123456789abcdef"
HDR = "X-Telegram-Bot-Api-Secret-Token"


@pytest.fixture
async def bot(hook_client):
    return await hook_client({"telegram": {"support-bot": {"secret_token": SECRET}}})


async def send(client, body: bytes, secret: str | None = SECRET):
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers[HDR] = secret
    return await client.post("/webhooks/telegram/support-bot", data=body, headers=headers)


async def test_text_message_with_emoji(bot, payload, ingested) -> None:
    resp = await send(bot, payload("telegram", "message.json"))
    assert resp.status == 200
    [msg] = ingested()
    assert (msg.channel, msg.external_id) == ("telegram", "524876123")
    assert msg.text == "My package never arrived 😤 tracking SF1234567890123"
    assert msg.sender.identities[0].value == "telegram:support-bot:123456789"
    assert msg.sender.name == "Jane Smith" and msg.meta["username"] == "janesmith"
    assert msg.thread_key == "123456789"
    assert msg.received_at.timestamp() == 1746268800


async def test_photo_caption_in_chinese_keeps_the_largest_photo(bot, payload, ingested) -> None:
    assert (await send(bot, payload("telegram", "photo_caption.json"))).status == 200
    [msg] = ingested()
    assert msg.text == "屏幕碎了，怎么保修？" and msg.sender.name == "李 雷"
    [photo] = msg.attachments
    assert photo.ref == "telegram-file:AgACAgIAAxkBAAIBZ2Yx-large"
    assert (photo.content_type, photo.size) == ("image/jpeg", 73481)


async def test_edit_is_a_new_message_on_the_same_thread(bot, payload, ingested) -> None:
    for name in ("message.json", "edited_message.json"):
        assert (await send(bot, payload("telegram", name))).status == 200
    first, edit = ingested()
    assert edit.meta["edited"] == "true" and edit.thread_key == first.thread_key
    assert edit.external_id != first.external_id


async def test_shared_own_contact_adds_the_phone_identity(bot, payload, ingested) -> None:
    assert (await send(bot, payload("telegram", "contact.json"))).status == 200
    [msg] = ingested()
    assert [(i.kind, i.value) for i in msg.sender.identities] == [
        (IdentityKind.PLATFORM, "telegram:support-bot:123456789"),
        (IdentityKind.PHONE, "+8613800138000")]


async def test_callback_query_is_an_event(bot, payload, ingested) -> None:
    assert (await send(bot, payload("telegram", "callback_query.json"))).status == 200
    [event] = ingested()
    assert event.kind == MessageKind.EVENT


async def test_redelivery_is_one_message(bot, payload, ingested) -> None:
    for _ in range(3):
        assert (await send(bot, payload("telegram", "message.json"))).status == 200
    assert len(ingested()) == 1


async def test_wrong_or_missing_secret_is_refused_and_counted(bot, payload, ingested,
                                                              rejected) -> None:
    assert (await send(bot, payload("telegram", "message.json"), "x" * 24)).status == 403
    assert (await send(bot, payload("telegram", "message.json"), None)).status == 401
    assert ingested() == []
    assert await rejected(bot, "telegram", "bad_secret_token") == 1
    assert await rejected(bot, "telegram", "missing_signature") == 1


@pytest.mark.parametrize("body, reason", [
    (b"{", "malformed JSON"),
    (b'{"message": {"message_id": 1}}', "$.message"),
    (b'{"update_id": "seven"}', "update_id"),
    (b'{"update_id": 7, "message": {"text": "\xff\xfe"}}', "malformed JSON"),
])
async def test_malformed_updates_are_400(bot, ingested, body, reason) -> None:
    resp = await send(bot, body)
    assert resp.status == 400
    assert reason in (await resp.json())["error"]["message"]
    assert ingested() == []


async def test_bot_secret_must_be_strong_enough(hook_client) -> None:
    with pytest.raises(ConfigError, match="secret_token"):
        await hook_client({"telegram": {"b": {"secret_token": "short"}}})
