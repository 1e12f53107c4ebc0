"""Enumerations shared by every part of Deskgate. Values are the wire/Redis spelling."""

from __future__ import annotations

from enum import StrEnum


class Channel(StrEnum):
    API = "api"
    EMAIL = "email"
    WEBCHAT = "webchat"
    WEBFORM = "webform"
    WECHAT = "wechat"
    WECOM = "wecom"
    WHATSAPP = "whatsapp"
    MESSENGER = "messenger"
    INSTAGRAM = "instagram"
    TELEGRAM = "telegram"
    SMS = "sms"
    LINE = "line"
    VOICE = "voice"          # voicemail: a recorded call and its transcript (Twilio Voice)


class Priority(StrEnum):
    """P1 is the most urgent. Order by `rank` (1..4), never by string."""

    P1 = "P1"
    P2 = "P2"
    P3 = "P3"
    P4 = "P4"

    @property
    def rank(self) -> int:
        return int(self.value[1])


class Sentiment(StrEnum):
    NEGATIVE = "negative"
    NEUTRAL = "neutral"
    POSITIVE = "positive"


class Status(StrEnum):
    OPEN = "open"            # waiting in a skill queue
    ASSIGNED = "assigned"    # leased to an agent
    PENDING = "pending"      # waiting on the customer; SLA clocks paused
    RESOLVED = "resolved"
    CLOSED = "closed"


class IdentityKind(StrEnum):
    EMAIL = "email"
    PHONE = "phone"          # E.164
    PLATFORM = "platform"    # "<channel>:<account>:<platform user id>" (openid, wa_id, PSID, …)
    EXTERNAL = "external"    # an id given by an integration posting to the generic API


class MessageKind(StrEnum):
    """Only MESSAGE opens or updates a ticket; every other kind is recorded and visible."""

    MESSAGE = "message"
    AUTO_REPLY = "auto_reply"
    BOUNCE = "bounce"
    OWN = "own"              # sent by one of our own addresses / an echo of our own message
    STATUS = "status"        # delivery/read receipts
    EVENT = "event"          # subscribe, postback without text, unknown event types


class Role(StrEnum):
    INTEGRATION = "integration"
    AGENT = "agent"
    MANAGER = "manager"
    ADMIN = "admin"


class AgentStatus(StrEnum):
    ONLINE = "online"
    AWAY = "away"
    OFFLINE = "offline"
