"""WeCom 微信客服 end to end: the signed, encrypted kf_msg_or_event callback is answered at
once, then the gateway fetches the announced messages with sync_msg from a Tencent stand-in
(token checked, documented body) and they enter the normal ingest stream; the cursor moves
only after a page is stored, and a refetched page adds nothing twice; without any callback,
the periodic poll brings the messages in."""

from __future__ import annotations

from typing import Any

import pytest
import redis

from deskgate.gateway.config import ConfigError
from deskgate.models.enums import MessageKind
from tests.connectors.test_wechat import AES_KEY, CORP_ID, TOKEN, sealed
from tests.send.tencent_standin import KF_SECRET, WECOM, Tencent, routes

KFID = "wkAJ2GCAAASSm4_FhToWMFea0xAFfd3Q"
CALLBACK_TOKEN = "ENCApHxnGDNAVNY4AaSJKj4Tb5mwsEMzxhFmHVGcra996NR"


async def _setup(aiohttp_server: Any, hook_client: Any) -> tuple[Tencent, Any]:
    tencent = Tencent()
    routes(tencent)
    server = await aiohttp_server(tencent.app)
    client = await hook_client({"wecom": {"kf": {
        "token": TOKEN, "corp_id": CORP_ID, "encoding_aes_key": AES_KEY,
        "kf_secret": KF_SECRET, "api_base": str(server.make_url("")).rstrip("/")}}})
    return tencent, client


async def _callback(client: Any, payload: Any, nonce: str) -> None:
    query, body = sealed(payload("wecom", "kf_msg_or_event.xml"), CORP_ID, nonce, CORP_ID)
    resp = await client.post(f"/webhooks/wecom/kf?{query}", data=body)
    assert resp.status == 200 and await resp.read() == b""


async def test_callback_fetches_the_messages_into_intake(aiohttp_server, hook_client, payload,
                                                         ingested, eventually, r: redis.Redis,
                                                         prefix: str) -> None:
    tencent, client = await _setup(aiohttp_server, hook_client)
    tencent.sync_script = [WECOM["sync_page_1"], WECOM["sync_page_2"]]
    await _callback(client, payload, "kf-1")

    def fetched() -> list[Any]:
        got = [m for m in ingested() if m.external_id.startswith(("from_msgid", "MSGID"))]
        return got if len(got) == 4 else []
    text, image, event, ours = await eventually(_async(fetched))
    assert text.kind == MessageKind.MESSAGE and text.text == "你好，我的快递 SF1234567890 三天没动了"
    assert text.sender.identities[0].value == "wecom:kf:wmAJ2GCAAAme1XQRC-NI-q0_ZM9ukoAw"
    assert text.thread_key == f"{KFID}:wmAJ2GCAAAme1XQRC-NI-q0_ZM9ukoAw"
    assert image.attachments[0].ref.startswith("wecom-media:2iSLeVyq")
    assert event.kind == MessageKind.EVENT and "enter_session" in event.kind_reason
    assert ours.kind == MessageKind.OWN
    # the first page from the start (no cursor), with the callback's token; the second from
    # page 1's next_cursor; the stored cursor is page 2's
    assert "cursor" not in tencent.syncs[0] and tencent.syncs[0]["token"] == CALLBACK_TOKEN
    assert tencent.syncs[0]["open_kfid"] == KFID
    assert tencent.syncs[1]["cursor"] == WECOM["sync_page_1"]["next_cursor"]
    assert await eventually(_async(lambda: r.get(f"{prefix}wecom:kf:cursor"))) == \
        WECOM["sync_page_2"]["next_cursor"].encode()
    assert r.exists(f"{prefix}wecom:kf:lease") == 0

    # the next callback starts at the stored cursor; a page WeCom repeats adds nothing
    tencent.sync_script = [WECOM["sync_page_2"]]
    before = len(ingested())
    await _callback(client, payload, "kf-2")
    await eventually(_async(lambda: len(tencent.syncs) == 3))
    assert tencent.syncs[2]["cursor"] == WECOM["sync_page_2"]["next_cursor"]
    await eventually(_async(lambda: r.exists(f"{prefix}wecom:kf:lease") == 0))
    # nothing new: the refetched page's messages are known by msgid, and this callback (the
    # same packet: same CreateTime and Token) is the same event
    assert len(ingested()) == before

    # WeCom expired the cached access token: the fetch takes a new one and goes on
    tencent.expire_all()
    tencent.sync_script = [WECOM["sync_page_1"] | {"msg_list": [
        WECOM["sync_page_1"]["msg_list"][0] | {"msgid": "after-expiry"}], "has_more": 0}]
    await _callback(client, payload, "kf-5")
    await eventually(_async(lambda: any(m.external_id == "after-expiry" for m in ingested())))
    assert tencent.fetches == 2


async def test_a_page_of_long_messages_is_not_too_large(aiohttp_server, hook_client, payload,
                                                       ingested, eventually) -> None:
    tencent, client = await _setup(aiohttp_server, hook_client)
    one = WECOM["sync_page_1"]["msg_list"][0]
    long = [one | {"msgid": f"long-{i}", "text": {"content": "很长的消息" * 400}}
            for i in range(100)]                  # ~1.2 MB of JSON: over the 256 KB send cap
    tencent.sync_script = [{"errcode": 0, "errmsg": "ok", "next_cursor": "c1", "has_more": 0,
                            "msg_list": long}]
    await _callback(client, payload, "kf-4")
    def stored() -> bool:
        return sum(m.external_id.startswith("long-") for m in ingested()) == 100
    await eventually(_async(stored))
    assert tencent.syncs[0]["limit"] == 100


async def test_failed_fetch_keeps_the_cursor(aiohttp_server, hook_client, payload, ingested,
                                             eventually, r: redis.Redis, prefix: str) -> None:
    tencent, client = await _setup(aiohttp_server, hook_client)
    r.set(f"{prefix}wecom:kf:cursor", "C0")
    tencent.sync_script = [{"errcode": -1, "errmsg": "system error"}]
    await _callback(client, payload, "kf-3")
    await eventually(_async(lambda: len(tencent.syncs) == 1))
    await eventually(_async(lambda: r.exists(f"{prefix}wecom:kf:lease") == 0))
    assert r.get(f"{prefix}wecom:kf:cursor") == b"C0"
    assert tencent.syncs[0]["cursor"] == "C0"
    assert [m.kind for m in ingested()] == [MessageKind.EVENT]    # the callback, recorded


def _async(check: Any) -> Any:
    async def run() -> Any:
        return check()
    return run


async def test_a_lost_callback_is_caught_by_the_poll(aiohttp_server, hook_client, ingested,
                                                     eventually, r: redis.Redis,
                                                     prefix: str) -> None:
    """No callback at all: the account's periodic sync_msg (a short interval here) brings the
    messages in anyway, without a callback Token, from the stored cursor on."""
    tencent = Tencent()
    routes(tencent)
    server = await aiohttp_server(tencent.app)
    tencent.sync_script = [WECOM["sync_page_1"], WECOM["sync_page_2"]]
    await hook_client({"wecom": {"kf": {
        "token": TOKEN, "corp_id": CORP_ID, "encoding_aes_key": AES_KEY,
        "kf_secret": KF_SECRET, "kf_poll_seconds": 0.2,
        "api_base": str(server.make_url("")).rstrip("/")}}})

    def fetched() -> list[Any]:
        return [m for m in ingested() if m.external_id.startswith("from_msgid")]
    got = await eventually(_async(lambda: len(fetched()) == 3 and fetched()))
    assert got[0].text == "你好，我的快递 SF1234567890 三天没动了"
    assert "token" not in tencent.syncs[0]
    assert tencent.syncs[1]["cursor"] == WECOM["sync_page_1"]["next_cursor"]
    assert await eventually(_async(lambda: r.get(f"{prefix}wecom:kf:cursor"))) == \
        WECOM["sync_page_2"]["next_cursor"].encode()
    # later polls start from the stored cursor and add nothing twice
    await eventually(_async(lambda: len(tencent.syncs) >= 4))
    assert tencent.syncs[-1]["cursor"] == WECOM["sync_page_2"]["next_cursor"]
    assert len(fetched()) == 3


async def test_polling_is_bounded_in_the_settings(hook_client) -> None:
    with pytest.raises(ConfigError, match="kf_poll_seconds"):
        await hook_client({"wecom": {"kf": {
            "token": TOKEN, "corp_id": CORP_ID, "encoding_aes_key": AES_KEY,
            "kf_secret": KF_SECRET, "kf_poll_seconds": 0.01}}})
