"""The messaging providers' senders, keyed like connectors/registry.py's CONNECTORS (the name
under which an account's settings live: a Twilio account answers SMS and WhatsApp, a Meta app's
settings serve WhatsApp, Messenger or Instagram). The sender registry merges them in."""

from __future__ import annotations

from deskgate.connectors.send.base import Sender
from deskgate.connectors.send.line import LineSender
from deskgate.connectors.send.messenger import InstagramSender, MessengerSender
from deskgate.connectors.send.telegram import TelegramSender
from deskgate.connectors.send.twilio import TwilioSender
from deskgate.connectors.send.wechat import OfficialAccountSender
from deskgate.connectors.send.wecom import WeComSender
from deskgate.connectors.send.whatsapp import WhatsAppSender

PROVIDER_SENDERS: dict[str, Sender] = {s.name: s for s in (
    WhatsAppSender(),
    MessengerSender(),
    InstagramSender(),
    TelegramSender(),
    OfficialAccountSender(),
    WeComSender(),
    TwilioSender(),
    LineSender(),
)}
