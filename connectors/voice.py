"""Voicemail: Twilio Voice <Record> callbacks become a ticket with the recording and, once
Twilio has it, the transcript. Signed with X-Twilio-Signature exactly like the Messaging
webhooks (connectors/twilio.py verifies both).

Point both the <Record> `action` and its `transcribeCallback` at /webhooks/voice/{account}
(https://www.twilio.com/docs/voice/twiml/record#attributes-action,
https://www.twilio.com/docs/voice/twiml/record#attributes-transcribe-callback):

- the action request (RecordingUrl, RecordingSid, RecordingDuration, From, CallSid…) is a
  MESSAGE "[voicemail 23 s]" carrying the recording as an attachment reference, so a
  voicemail makes a ticket even when transcription fails or is off;
- the transcription callback (TranscriptionText, TranscriptionStatus, TranscriptionSid…) is a
  second MESSAGE on the same thread (the CallSid) with the transcript as its text;
- a recordingStatusCallback (RecordingStatus, no caller) is recorded as a STATUS.
The answer is TwiML that ends the call (Twilio follows the action's answer). An agent's reply
goes to the caller as an SMS through the Twilio account of the number (`sms_account`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from deskgate.connectors.base import (
    Delivery,
    Reply,
    WebhookRequest,
    clip,
    load_settings,
    no_handshake,
    platform_id,
    require,
)
from deskgate.connectors.twilio import MEDIA, caller, verified_params
from deskgate.models.enums import Channel, IdentityKind, MessageKind
from deskgate.models.message import Attachment, Identity, InboundMessage, Sender

HANG_UP = Reply(200, b'<?xml version="1.0" encoding="UTF-8"?><Response><Hangup/></Response>',
                "text/xml")
_SID = 64


class VoiceSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    auth_token: str
    account_sid: str = ""      # when set, callbacks for another account are refused
    webhook_url: str = ""      # the exact URL configured in Twilio, if not ours as seen
    default_region: str = "CN"
    skill: str = ""
    # replies to voicemails go by SMS through this channels.twilio account (the one holding
    # this number; empty: the Twilio account of the same name as this voice account)
    sms_account: str = ""

    def __post_init__(self) -> None:
        if len(self.auth_token) < 16:
            raise ValueError("auth_token looks wrong (Twilio's are 32 characters)")


class VoiceConnector:
    name = "voice"
    settings_type = VoiceSettings

    def settings(self, raw: Mapping[str, Any]) -> VoiceSettings:
        return load_settings(raw, VoiceSettings, "channels.voice")

    def handshake(self, settings: VoiceSettings, request: WebhookRequest) -> Reply:
        return no_handshake(request)

    def handle(self, account: str, settings: VoiceSettings,
               request: WebhookRequest) -> Delivery:
        p = verified_params(settings.auth_token, settings.account_sid, settings.webhook_url,
                            request)
        return Delivery((_record(account, settings, p, request),), HANG_UP)


def _record(account: str, settings: VoiceSettings, p: dict[str, str],
            request: WebhookRequest) -> InboundMessage:
    call, recording = p.get("CallSid", "")[:_SID], p.get("RecordingSid", "")[:_SID]
    require(bool(call), "CallSid is missing")
    url = p.get("RecordingUrl", "")
    meta = {"call": call, **({"recording": recording} if recording else {})}
    attachments = (Attachment(name=f"voicemail-{recording or call}.wav",
                              content_type="audio/x-wav", ref=MEDIA.ref(url)),) if url else ()
    number = p.get("From", "")
    if not number:
        status = p.get("RecordingStatus", "unknown")[:20]
        return InboundMessage(
            channel=Channel.VOICE, account=account,
            external_id=f"recording-status:{recording or call}:{status}",
            sender=Sender((Identity(IdentityKind.PLATFORM,
                                    platform_id(Channel.VOICE, account, "twilio")),)),
            received_at=request.received_at, thread_key=call, attachments=attachments,
            kind=MessageKind.STATUS, kind_reason=f"recording {status}", payload_id=call,
            meta=meta | {"status": status})
    who = caller(account, number, settings.default_region, Channel.VOICE)
    transcription = p.get("TranscriptionSid", "")[:_SID]
    if transcription or "TranscriptionStatus" in p:
        status = p.get("TranscriptionStatus", "")[:20]
        text = p.get("TranscriptionText", "") if status == "completed" else \
            f"[voicemail transcription {status or 'missing'} / 语音留言转写失败]"
        external = f"transcription:{transcription or recording or call}"
        meta["transcription"] = status
    else:
        require(bool(recording) or bool(url), "neither a recording nor a transcription")
        seconds = p.get("RecordingDuration", "")[:10]
        text = f"[voicemail / 语音留言 {seconds} s]" if seconds.isdigit() else \
            "[voicemail / 语音留言]"
        external = f"recording:{recording or call}"
    return InboundMessage(
        channel=Channel.VOICE, account=account, external_id=external,
        sender=Sender((who,), name=p.get("CallerName", "")[:200]),
        received_at=request.received_at, text=clip(text), thread_key=call,
        attachments=attachments, payload_id=call, skill_hint=settings.skill, meta=meta)
