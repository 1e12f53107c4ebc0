"""WeChat Official Account (plain and safe mode) and WeCom callbacks over real HTTP, with
signatures computed here with Tencent's scheme and Tencent's own published test vector."""

from __future__ import annotations

import time
from urllib.parse import urlencode

import pytest

from deskgate.connectors.base import BadPayload
from deskgate.connectors.wechat import parse_xml
from deskgate.connectors.wechat_crypto import aes_key, encrypt, sha1_signature
from deskgate.models.enums import IdentityKind, MessageKind

TOKEN = "deskgate-wechat-token"
APP_ID = "wx3a9f2c1b7d8e6f50"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
CORP_ID = "ww1436e0e65a779aee"


def plain_query(nonce: str, ts: int | None = None, token: str = TOKEN) -> str:
    ts = int(time.time()) if ts is None else ts
    return urlencode({"signature": sha1_signature(token, str(ts), nonce), "timestamp": ts,
                      "nonce": nonce, "openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"})


def sealed(inner: bytes, receive_id: str, nonce: str, to_user: str) -> tuple[str, bytes]:
    """What WeChat sends in safe mode: an <Encrypt> packet and msg_signature over it."""
    ts = str(int(time.time()))
    enc = encrypt(aes_key(AES_KEY), receive_id, inner)
    body = (f"<xml><ToUserName><![CDATA[{to_user}]]></ToUserName>"
            f"<Encrypt><![CDATA[{enc}]]></Encrypt></xml>").encode()
    query = urlencode({"msg_signature": sha1_signature(TOKEN, ts, nonce, enc), "timestamp": ts,
                       "nonce": nonce, "encrypt_type": "aes"})
    return query, body


@pytest.fixture
async def plain(hook_client):
    return await hook_client({"wechat": {"main": {"token": TOKEN}}})


async def test_plain_text_in_chinese_with_emoji_is_ingested_and_answered_success(
        plain, payload, ingested) -> None:
    resp = await plain.post(f"/webhooks/wechat/main?{plain_query('n-1')}",
                            data=payload("wechat", "text_zh.xml"))
    assert resp.status == 200
    assert await resp.text() == "success"
    [msg] = ingested()
    assert msg.channel == "wechat" and msg.account == "main"
    assert msg.external_id == "24312345678901234"
    assert msg.text == "你好，我的订单 DD20231115001 还没发货，什么时候能到？😡"
    assert msg.thread_key == "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"
    assert msg.sender.identities[0].kind == IdentityKind.PLATFORM
    assert msg.sender.identities[0].value == "wechat:main:oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"
    assert msg.received_at.timestamp() == 1700000000


async def test_image_and_voice_keep_media_ids_and_the_recognised_speech(
        plain, payload, ingested) -> None:
    for i, name in enumerate(("image.xml", "voice.xml")):
        resp = await plain.post(f"/webhooks/wechat/main?{plain_query(f'm-{i}')}",
                                data=payload("wechat", name))
        assert resp.status == 200
    image, voice = ingested()
    assert [a.ref for a in image.attachments] == ["wechat-media:media_id"]
    assert image.attachments[0].content_type == "image/jpeg"
    assert image.meta["PicUrl"] == "http://mmbiz.qpic.cn/mmbiz_jpg/abc123/0"
    assert voice.text == "腾讯微信团队"
    assert voice.attachments[0].content_type == "audio/amr"
    assert voice.attachments[0].ref == "wechat-media:media_id_voice"


async def test_subscribe_event_is_recorded_not_ticketed(plain, payload, ingested) -> None:
    resp = await plain.post(f"/webhooks/wechat/main?{plain_query('ev')}",
                            data=payload("wechat", "event_subscribe.xml"))
    assert resp.status == 200
    [event] = ingested()
    assert event.kind == MessageKind.EVENT and "subscribe" in event.kind_reason


async def test_bad_signature_is_403_and_counted(plain, payload, ingested, rejected) -> None:
    query = plain_query("n-2", token="not-the-token")
    resp = await plain.post(f"/webhooks/wechat/main?{query}", data=payload("wechat", "text.xml"))
    assert resp.status == 403
    missing = await plain.post(f"/webhooks/wechat/main?timestamp={int(time.time())}&nonce=x",
                               data=payload("wechat", "text.xml"))
    assert missing.status == 401
    assert ingested() == []
    assert await rejected(plain, "wechat", "bad_signature") == 1
    assert await rejected(plain, "wechat", "missing_signature") == 1


async def test_stale_timestamp_is_refused(plain, payload, ingested, rejected) -> None:
    resp = await plain.post(f"/webhooks/wechat/main?{plain_query('old', int(time.time()) - 3600)}",
                            data=payload("wechat", "text.xml"))
    assert resp.status == 403
    assert ingested() == []
    assert await rejected(plain, "wechat", "stale_timestamp") == 1


async def test_retry_is_one_message_and_a_reused_nonce_with_another_body_is_refused(
        plain, payload, ingested, rejected) -> None:
    query = plain_query("n-3")
    for _ in range(3):   # WeChat retries three times when we are slow
        resp = await plain.post(f"/webhooks/wechat/main?{query}",
                                data=payload("wechat", "text.xml"))
        assert resp.status == 200
    forged = payload("wechat", "text.xml").replace(b"this is a test", b"refund me to acct 6222")
    resp = await plain.post(f"/webhooks/wechat/main?{query}", data=forged)
    assert resp.status == 403
    assert [m.text for m in ingested()] == ["this is a test"]
    assert await rejected(plain, "wechat", "replayed_nonce") == 1


@pytest.mark.parametrize("body, reason", [
    (b"<xml><FromUserName>u", "malformed XML"),
    (b'<!DOCTYPE x [<!ENTITY a "aaaa">]><xml><Content>&a;</Content></xml>',
     "document type declaration"),
    (b"<xml><MsgType>text</MsgType></xml>", "FromUserName"),
    (b'<?xml version="1.0" encoding="bogus"?><xml/>', "malformed XML"),
    ('<?xml version="1.0" encoding="gbk"?><xml><A>中</A></xml>'.encode("gbk"), "malformed XML"),
])
async def test_malformed_packets_are_400_with_the_reason(plain, ingested, body, reason) -> None:
    resp = await plain.post(f"/webhooks/wechat/main?{plain_query('bad-' + reason[:4])}",
                            data=body)
    assert resp.status == 400
    assert reason in (await resp.json())["error"]["message"]
    assert ingested() == []


async def test_url_verification_echoes_echostr_only_when_signed(plain) -> None:
    ts = str(int(time.time()))
    good = urlencode({"signature": sha1_signature(TOKEN, ts, "42"), "timestamp": ts,
                      "nonce": "42", "echostr": "5837397520665436492"})
    resp = await plain.get(f"/webhooks/wechat/main?{good}")
    assert resp.status == 200 and await resp.text() == "5837397520665436492"
    bad = good.replace("nonce=42", "nonce=43")
    assert (await plain.get(f"/webhooks/wechat/main?{bad}")).status == 403


async def test_safe_mode_decrypts_and_refuses_plain_packets(hook_client, payload,
                                                            ingested) -> None:
    client = await hook_client({"wechat": {"secure": {
        "token": TOKEN, "app_id": APP_ID, "encoding_aes_key": AES_KEY}}})
    query, body = sealed(payload("wechat", "text_zh.xml"), APP_ID, "s-1", "gh_3a9f2c1b7d8e")
    resp = await client.post(f"/webhooks/wechat/secure?{query}", data=body)
    assert resp.status == 200 and await resp.text() == "success"
    downgrade = await client.post(f"/webhooks/wechat/secure?{plain_query('s-2')}",
                                  data=payload("wechat", "text.xml"))
    assert downgrade.status == 400
    other_app, body2 = sealed(payload("wechat", "text.xml"), "wx0000000000000000", "s-3", "x")
    wrong = await client.post(f"/webhooks/wechat/secure?{other_app}", data=body2)
    assert wrong.status == 403
    assert [m.text for m in ingested()] == ["你好，我的订单 DD20231115001 还没发货，什么时候能到？😡"]


async def test_wecom_message_in_chinese_is_ingested_with_an_empty_200(
        hook_client, payload, ingested) -> None:
    client = await hook_client({"wecom": {"corp": {
        "token": TOKEN, "corp_id": CORP_ID, "encoding_aes_key": AES_KEY}}})
    query, body = sealed(payload("wecom", "text.xml"), CORP_ID, "w-1", CORP_ID)
    resp = await client.post(f"/webhooks/wecom/corp?{query}", data=body)
    assert resp.status == 200 and await resp.read() == b""
    again = await client.post(f"/webhooks/wecom/corp?{query}", data=body)
    assert again.status == 200                       # a retry: same nonce, same body
    forged = await client.post(f"/webhooks/wecom/corp?{query.replace('w-1', 'w-2')}", data=body)
    assert forged.status == 403                      # msg_signature covers the nonce
    [msg] = ingested()
    assert msg.channel == "wecom" and msg.text == "发票抬头开错了，麻烦帮忙重开 🙏"
    assert msg.sender.identities[0].value == "wecom:corp:ZhangSan"
    assert msg.meta["AgentID"] == "1000002"


async def test_wecom_official_tencent_vector_verifies_and_decrypts(hook_client, payload_json,
                                                                   ingested) -> None:
    v = payload_json("wecom", "official_vector.json")
    # The vector is from 2014: widen this account's clock window so its signature is checked.
    client = await hook_client({"wecom": {"vector": {
        "token": v["token"], "corp_id": v["corp_id"], "encoding_aes_key": v["encoding_aes_key"],
        "max_skew": 10 ** 10}}})
    verify = {k: v["verify"][k] for k in ("msg_signature", "timestamp", "nonce", "echostr")}
    resp = await client.get(f"/webhooks/wecom/vector?{urlencode(verify)}")
    assert resp.status == 200 and await resp.text() == v["verify"]["answer"]
    post = {k: v["post"][k] for k in ("msg_signature", "timestamp", "nonce")}
    resp = await client.post(f"/webhooks/wecom/vector?{urlencode(post)}", data=v["post"]["body"])
    assert resp.status == 200
    [msg] = ingested()
    assert (msg.text, msg.external_id) == ("hello", "4561255354251345929")
    assert msg.sender.identities[0].value == "wecom:vector:mycreate"


async def test_unknown_account_and_channel_are_404(plain, payload) -> None:
    for path in ("/webhooks/wechat/other", "/webhooks/nochannel/main"):
        resp = await plain.post(f"{path}?{plain_query('x')}", data=payload("wechat", "text.xml"))
        assert resp.status == 404


def test_parse_xml_refuses_entities_and_oversize() -> None:
    with pytest.raises(BadPayload):
        parse_xml(b'<?xml version="1.0"?><!doctype xml [<!entity x "y">]><xml/>')
    with pytest.raises(BadPayload):
        parse_xml(b"<xml>" + b"a" * 300_000 + b"</xml>")
    assert parse_xml("<xml><A><![CDATA[ 退款 ]]></A><B>2</B></xml>".encode()) == {"A": "退款", "B": "2"}


UTF16_ENTITY = ('<?xml version="1.0" encoding="UTF-16"?>'
                '<!DOCTYPE xml [<!ENTITY e "EXPANDED">]>'
                '<xml><ToUserName>gh_1</ToUserName><FromUserName>oU16</FromUserName>'
                '<CreateTime>1700000000</CreateTime><MsgType>text</MsgType>'
                '<Content>&e;</Content><MsgId>16161616</MsgId></xml>').encode("utf-16")


async def test_a_signed_utf16_packet_with_an_entity_is_refused_in_both_modes(
        hook_client, ingested) -> None:
    client = await hook_client({"wechat": {
        "main": {"token": TOKEN},
        "secure": {"token": TOKEN, "app_id": APP_ID, "encoding_aes_key": AES_KEY}}})
    plain_resp = await client.post(f"/webhooks/wechat/main?{plain_query('u16-1')}",
                                   data=UTF16_ENTITY)
    query, body = sealed(UTF16_ENTITY, APP_ID, "u16-2", "gh_1")
    safe_resp = await client.post(f"/webhooks/wechat/secure?{query}", data=body)
    for resp in (plain_resp, safe_resp):
        assert resp.status == 400
        assert "document type declaration" in (await resp.json())["error"]["message"]
    assert ingested() == []


async def test_an_unsigned_packet_is_refused_before_its_xml_is_read(plain, ingested,
                                                                    rejected) -> None:
    query = plain_query("unsigned-1").replace("signature=", "signature=0")
    resp = await plain.post(f"/webhooks/wechat/main?{query}", data=b"<xml><unclosed")
    assert resp.status == 403          # the signature decides, not the (malformed) body
    assert await rejected(plain, "wechat", "bad_signature") == 1
    assert ingested() == []
