"""Web-chat replies. The visitor's site backend fetches them from the gateway's signed
polling endpoint (gateway/web/webchat_replies.py), so "sending" is making the reply visible there:
it is sent once the outbox has it; the site's fetch makes it delivered, the widget showing it
read."""

from __future__ import annotations

from typing import Any

import aiohttp

from deskgate.connectors.send.base import AccessTokens, Files
from deskgate.models.enums import Channel
from deskgate.models.outbound import OutboundMessage, SendResult


class WebChatSender:
    channel = Channel.WEBCHAT

    async def send(self, message: OutboundMessage, settings: Any, http: aiohttp.ClientSession,
                   tokens: AccessTokens, files: Files | None = None) -> SendResult:
        return SendResult(provider_id=message.reply_id)
