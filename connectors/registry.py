"""Channel name (the `{channel}` in /webhooks/{channel}/{account} and the key under `channels:`
in the config) -> its connector. Adding a channel is one line here."""

from __future__ import annotations

from deskgate.connectors.base import Connector
from deskgate.connectors.line import LineConnector
from deskgate.connectors.messenger import InstagramConnector, MessengerConnector
from deskgate.connectors.telegram import TelegramConnector
from deskgate.connectors.twilio import TwilioConnector
from deskgate.connectors.voice import VoiceConnector
from deskgate.connectors.webchat import WebChatConnector, WebFormConnector
from deskgate.connectors.wechat import OfficialAccountConnector, WeComConnector
from deskgate.connectors.whatsapp import WhatsAppConnector

CONNECTORS: dict[str, Connector] = {c.name: c for c in (
    WebChatConnector(),
    WebFormConnector(),
    OfficialAccountConnector(),
    WeComConnector(),
    WhatsAppConnector(),
    MessengerConnector(),
    InstagramConnector(),
    TelegramConnector(),
    TwilioConnector(),
    LineConnector(),
    VoiceConnector(),
)}
