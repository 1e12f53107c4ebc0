"""WeCom 微信客服 messages fetched with kf/sync_msg (connectors/send/wecom.py), as
InboundMessages for the normal intake path.

origin 3 (the customer) → MESSAGE keyed on msgid; origin 5 (one of our 接待人员 answering in
the WeCom app) → OWN; origin 4 (system: enter_session, msg_send_fail, …) and unknown types →
EVENT. The customer is `wecom:<account>:<external_userid>`; the thread and the reply address
are "<open_kfid>:<external_userid>", so an answer goes from the 客服账号 the customer wrote to.
Media is referenced by its media_id (fetched, if ever, through the media API), never a URL.
"""

from __future__ import annotations

from datetime import datetime

from deskgate.connectors.base import MAX_TEXT, clip, from_epoch, platform_id
from deskgate.connectors.send.wecom import SyncedMessage
from deskgate.models.enums import Channel, IdentityKind, MessageKind
from deskgate.models.message import Attachment, Identity, InboundMessage, Sender

CUSTOMER, SYSTEM, SERVICER = 3, 4, 5
_MEDIA = {"image": "image/jpeg", "voice": "audio/amr", "video": "video/mp4",
          "file": "application/octet-stream"}


def to_message(account: str, m: SyncedMessage, received_at: datetime,
               skill: str) -> InboundMessage:
    user = m.external_userid[:128] or "unknown"
    kind, reason, text = MessageKind.MESSAGE, "", ""
    attachments: tuple[Attachment, ...] = ()
    media = getattr(m, m.msgtype, None) if m.msgtype in _MEDIA else None
    if m.msgtype == "text" and m.text is not None:
        text = m.text.content
    elif media is not None and media.media_id:
        attachments = (Attachment(name=m.msgtype, content_type=_MEDIA[m.msgtype],
                                  ref=f"wecom-media:{media.media_id[:256]}"),)
    elif m.msgtype == "location" and m.location is not None:
        loc = m.location
        text = f"[位置 location] {loc.name} {loc.address} ({loc.latitude}, {loc.longitude})"
    else:
        kind, reason = MessageKind.EVENT, f"msgtype {m.msgtype[:40]}"
    if m.origin == SERVICER:
        kind, reason = MessageKind.OWN, "sent by our 接待人员 in WeCom"
    elif m.origin == SYSTEM or (m.origin != CUSTOMER and kind == MessageKind.MESSAGE):
        kind, reason = MessageKind.EVENT, f"origin {m.origin}: " + (
            m.event.event_type[:40] if m.event else m.msgtype[:40])
    meta = {"open_kfid": m.open_kfid[:64], "origin": str(m.origin)}
    return InboundMessage(
        channel=Channel.WECOM, account=account, external_id=m.msgid[:128],
        sender=Sender((Identity(IdentityKind.PLATFORM,
                                platform_id(Channel.WECOM, account, user)),)),
        received_at=from_epoch(m.send_time, received_at), text=clip(text, MAX_TEXT),
        thread_key=f"{m.open_kfid[:64]}:{user}", attachments=attachments, kind=kind,
        kind_reason=reason, payload_id=m.msgid[:128], skill_hint=skill, meta=meta)
