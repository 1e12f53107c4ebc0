"""Twilio inbound SMS/MMS/WhatsApp webhooks over real HTTP. Signatures come from the `twilio`
package's own RequestValidator, an implementation independent of ours."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from twilio.request_validator import RequestValidator

from deskgate.connectors.media import MediaPolicy, fetchable
from deskgate.connectors.twilio import MEDIA
from deskgate.models.enums import IdentityKind, MessageKind

TOKEN = "12345678901234567890123456789012"
PUBLIC = "https://desk.example.com"
URL = f"{PUBLIC}/webhooks/twilio/cn-sms"
TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


def signed(params: dict[str, str], url: str = URL, token: str = TOKEN) -> dict[str, str]:
    return {"X-Twilio-Signature": RequestValidator(token).compute_signature(url, params),
            "Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture
async def twilio(hook_client):
    return await hook_client({"twilio": {"cn-sms": {
        "auth_token": TOKEN, "account_sid": "ACXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"}}},
        public_url=PUBLIC)


async def send(client, params: dict[str, str], **kw):
    return await client.post("/webhooks/twilio/cn-sms", data=urlencode(params),
                             headers=signed(params, **kw))


async def test_sms_with_chinese_and_emoji_becomes_a_message_and_empty_twiml(
        twilio, payload_json, ingested) -> None:
    resp = await send(twilio, payload_json("twilio", "sms.json"))
    assert resp.status == 200
    assert resp.content_type == "text/xml" and await resp.text() == TWIML
    [msg] = ingested()
    assert (msg.channel, msg.account) == ("sms", "cn-sms")
    assert msg.external_id == "SM1f0e8ae6ade43cb3c0ce4525424e404f"
    assert msg.text == "Hello! 👍 退款什么时候到账？"
    assert msg.sender.identities == (msg.sender.identities[0],)
    assert (msg.sender.identities[0].kind, msg.sender.identities[0].value) == (
        IdentityKind.PHONE, "+14155550100")
    assert msg.thread_key == "+14155550100:+14155552671"


async def test_mms_media_urls_only_fetchable_on_twilio_hosts(twilio, payload_json,
                                                             ingested) -> None:
    assert (await send(twilio, payload_json("twilio", "mms.json"))).status == 200
    [msg] = ingested()
    good, bad = msg.attachments
    assert good.content_type == "image/jpeg" and good.ref.startswith("https://api.twilio.com/")
    assert fetchable(good.ref, MEDIA) == good.ref
    assert bad.ref == "blocked:http://10.0.0.5:8080/admin"
    assert fetchable(bad.ref, MEDIA) is None


async def test_whatsapp_via_twilio_is_the_whatsapp_channel_with_the_phone(
        twilio, payload_json, ingested) -> None:
    assert (await send(twilio, payload_json("twilio", "whatsapp.json"))).status == 200
    [msg] = ingested()
    assert msg.channel == "whatsapp" and msg.sender.name == "王小明"
    assert msg.sender.identities[0].value == "+8613800138000"
    assert msg.text == "我的快递到哪了？"


async def test_status_callback_is_recorded_not_ticketed(twilio, payload_json, ingested) -> None:
    assert (await send(twilio, payload_json("twilio", "status.json"))).status == 200
    [status] = ingested()
    assert status.kind == MessageKind.STATUS and status.meta["status"] == "delivered"
    assert status.sender.identities[0].value == "+14155550100"


async def test_retries_are_one_message(twilio, payload_json, ingested) -> None:
    params = payload_json("twilio", "sms.json")
    for _ in range(3):
        assert (await send(twilio, params)).status == 200
    assert len(ingested()) == 1


async def test_forged_tampered_and_unsigned_requests_are_refused(twilio, payload_json,
                                                                 ingested, rejected) -> None:
    params = payload_json("twilio", "sms.json")
    assert (await send(twilio, params, token="0" * 32)).status == 403
    assert (await send(twilio, params, url="https://evil.example.com/hook")).status == 403
    tampered = dict(params, Body="send the refund to another card")
    resp = await twilio.post("/webhooks/twilio/cn-sms", data=urlencode(tampered),
                             headers=signed(params))
    assert resp.status == 403
    unsigned = await twilio.post("/webhooks/twilio/cn-sms", data=urlencode(params))
    assert unsigned.status == 401
    other = dict(params, AccountSid="AC" + "1" * 32)
    assert (await send(twilio, other)).status == 403
    assert ingested() == []
    assert await rejected(twilio, "twilio", "bad_signature") == 3
    assert await rejected(twilio, "twilio", "missing_signature") == 1
    assert await rejected(twilio, "twilio", "wrong_account") == 1


async def test_signed_but_malformed_parameters_are_400(twilio, ingested) -> None:
    sid = {"AccountSid": "ACXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"}
    for params, reason in (({"From": "+14155550100", "To": "+14155552671", "Body": "x"},
                            "MessageSid"),
                           ({"MessageSid": "SM1", "From": "+14155550100", "To": "+1415555267",
                             "NumMedia": "many"}, "NumMedia")):
        resp = await send(twilio, {**params, **sid})
        assert resp.status == 400
        assert reason in (await resp.json())["error"]["message"]
    assert ingested() == []


async def test_url_with_default_port_matches_like_twilios_validator(hook_client, payload_json,
                                                                    ingested) -> None:
    client = await hook_client({"twilio": {"cn-sms": {"auth_token": TOKEN}}},
                               public_url="https://desk.example.com:443")
    assert (await send(client, payload_json("twilio", "sms.json"))).status == 200
    assert len(ingested()) == 1


@pytest.mark.parametrize("url, ok", [
    ("https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1", True),
    ("https://media.twiliocdn.com/x.jpg", True),
    ("http://api.twilio.com/x", False),              # scheme
    ("https://api.twilio.com.evil.com/x", False),    # suffix trick
    ("https://eviltwilio.com/x", False),
    ("https://user@api.twilio.com/x", False),
    ("https://api.twilio.com:8443/x", False),
    ("https://127.0.0.1/x", False),
    ("https://[::1]/x", False),
    ("https://api.twilio.com/x\n", False),
])
def test_media_allow_list(url: str, ok: bool) -> None:
    assert MediaPolicy(("twilio.com", "twiliocdn.com")).allows(url) is ok
