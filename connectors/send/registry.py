"""Which sender answers on which channel, and where its account settings come from.

SENDERS is keyed like connectors/registry.py's CONNECTORS (and the config's `channels:`),
plus "email": the name under which an account's settings live. A reply names its channel
(Channel.SMS, ...) and account; SOURCES lists, per channel, the names whose settings may hold
that account, in order (a WhatsApp number is either the Cloud API's or Twilio's). Adding a
channel's sender is one line in each."""

from __future__ import annotations

from deskgate.connectors.send.base import Sender
from deskgate.connectors.send.email import EmailSender
from deskgate.connectors.send.providers import PROVIDER_SENDERS
from deskgate.connectors.send.webchat import WebChatSender
from deskgate.models.enums import Channel

SENDERS: dict[str, Sender] = {
    "email": EmailSender(),
    "webchat": WebChatSender(),
    **PROVIDER_SENDERS,
}

SOURCES: dict[Channel, tuple[str, ...]] = {
    Channel.WHATSAPP: ("whatsapp", "twilio"),
    Channel.SMS: ("twilio",),
}


def sources(channel: Channel) -> tuple[str, ...]:
    return SOURCES.get(channel, (channel.value,))
