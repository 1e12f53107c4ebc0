"""Customer-service windows: how long after the customer's last message a business may write
freely (WhatsApp and Messenger 24 h, WeChat Official Account and WeCom 微信客服 48 h)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from deskgate.models.outbound import OutboundMessage


def window_open(message: OutboundMessage, hours: float, now: datetime | None = None) -> bool | None:
    """True/False when the customer's last message is known (message.window_opened_at); None
    when it is not, and the provider's answer has to tell."""
    if message.window_opened_at is None:
        return None
    opened = message.window_opened_at
    if opened.tzinfo is None:
        opened = opened.replace(tzinfo=UTC)
    return (now or datetime.now(UTC)) - opened < timedelta(hours=hours)
