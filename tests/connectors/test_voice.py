"""Voicemail over real HTTP: Twilio's <Record> action and transcription callbacks, signed like
every Twilio webhook (signatures from the `twilio` package's own RequestValidator), become one
ticket of the caller with the recording reference and then the transcript."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from twilio.request_validator import RequestValidator

from deskgate.models.enums import IdentityKind, MessageKind, Role
from deskgate.queue.keys import Keys
from deskgate.queue.tokens import create_token
from tests.connectors.test_flow import ticket_of

TOKEN = "12345678901234567890123456789012"
PUBLIC = "https://desk.example.com"
URL = f"{PUBLIC}/webhooks/voice/hotline"
HANG_UP = '<?xml version="1.0" encoding="UTF-8"?><Response><Hangup/></Response>'
CHANNELS = {"voice": {"hotline": {"auth_token": TOKEN, "skill": "phone",
                                  "account_sid": "ACXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"}}}


async def post(client, params: dict[str, str], token: str = TOKEN):
    return await client.post("/webhooks/voice/hotline", data=urlencode(params), headers={
        "X-Twilio-Signature": RequestValidator(token).compute_signature(URL, params),
        "Content-Type": "application/x-www-form-urlencoded"})


@pytest.mark.slow
async def test_voicemail_becomes_a_ticket_with_recording_and_transcript(
        hook_client, payload_json, ingested, r, prefix) -> None:
    client = await hook_client(CHANNELS, public_url=PUBLIC, run_workers=True)
    resp = await post(client, payload_json("voice", "record_action.json"))
    assert resp.status == 200 and await resp.text() == HANG_UP
    assert (await post(client, payload_json("voice", "transcription.json"))).status == 200
    assert (await post(client, payload_json("voice", "transcription.json"))).status == 200
    recording, transcript = ingested()           # Twilio's retry was one message
    assert recording.channel == "voice" and recording.text == "[voicemail / 语音留言 23 s]"
    assert recording.sender.identities[0].kind == IdentityKind.PHONE
    assert recording.sender.identities[0].value == "+8613800138000"
    [audio] = recording.attachments
    assert audio.ref == payload_json("voice", "record_action.json")["RecordingUrl"]
    assert transcript.text.startswith("Hi, this is about order A20241201")
    assert transcript.external_id == "transcription:TR1234567890abcdef1234567890abcdef"

    headers = {"Authorization": f"Bearer {create_token(r, Keys(prefix), Role.MANAGER)[0]}"}
    first = await ticket_of(client, headers, recording.id)
    second = await ticket_of(client, headers, transcript.id)
    assert first["id"] == second["id"] and first["channel"] == "voice"
    assert [m["id"] for m in second["messages"]] == [recording.id, transcript.id]


async def test_signature_account_and_status_callbacks(hook_client, payload_json,
                                                      ingested) -> None:
    client = await hook_client(CHANNELS, public_url=PUBLIC)
    action = payload_json("voice", "record_action.json")
    assert (await post(client, action, token="0" * 32)).status == 403
    other = action | {"AccountSid": "AC" + "1" * 32}
    assert (await post(client, other)).status == 403
    assert (await client.post("/webhooks/voice/hotline", data=urlencode(action))).status == 401
    assert ingested() == []
    # a recordingStatusCallback names no caller: recorded, no ticket
    assert (await post(client, payload_json("voice", "recording_status.json"))).status == 200
    failed = payload_json("voice", "transcription.json") | {"TranscriptionStatus": "failed",
                                                            "TranscriptionText": ""}
    assert (await post(client, failed)).status == 200
    status, transcript = ingested()
    assert status.kind == MessageKind.STATUS and status.attachments
    assert transcript.kind == MessageKind.MESSAGE and "failed" in transcript.text
    assert (await post(client, {"AccountSid": action["AccountSid"]})).status == 400
