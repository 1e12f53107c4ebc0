"""Webhook test helpers: an app over real loopback HTTP with the given channel accounts, the
real Redis ingest stream read back as InboundMessages, and fixture loading."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import redis

from deskgate.gateway.config import Config, HttpConfig
from deskgate.gateway.web.app import create_app
from deskgate.models.codec import decode
from deskgate.models.message import InboundMessage

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


@pytest.fixture
def payload() -> Callable[[str, str], bytes]:
    """A provider's documented example payload, as bytes: payload("whatsapp", "text.json")."""
    return lambda channel, name: (FIXTURES / channel / name).read_bytes()


@pytest.fixture
def payload_json(payload: Callable[[str, str], bytes]) -> Callable[[str, str], Any]:
    return lambda channel, name: json.loads(payload(channel, name))


@pytest.fixture
def hook_client(aiohttp_client: Any, redis_url: str, data_dir: Path,
                prefix: str) -> Callable[..., Awaitable[Any]]:
    async def make(channels: dict[str, dict[str, dict[str, Any]]], *, public_url: str = "",
                   run_workers: bool = False) -> Any:
        config = Config(redis_prefix=prefix, channels=channels,
                        http=HttpConfig(public_url=public_url, max_body_bytes=256 * 1024))
        return await aiohttp_client(create_app(config, redis_url, data_dir,
                                               run_workers=run_workers))
    return make


@pytest.fixture
def ingested(r: redis.Redis, prefix: str) -> Callable[[], list[InboundMessage]]:
    """Everything durably written to the ingest stream so far, oldest first."""
    def read() -> list[InboundMessage]:
        return [decode(fields[b"m"], InboundMessage)
                for _, fields in r.xrange(f"{prefix}ingest")]
    return read


@pytest.fixture
def rejected() -> Callable[[Any, str, str], Awaitable[float]]:
    """The rejection counter as /metrics shows it (the scrape, not the object)."""
    async def value(client: Any, channel: str, reason: str) -> float:
        resp = await client.get("/metrics")
        assert resp.status == 200
        series = f'deskgate_webhook_rejected_total{{channel="{channel}",reason="{reason}"}} '
        for line in (await resp.text()).splitlines():
            if line.startswith(series):
                return float(line.rsplit(" ", 1)[1])
        return 0.0
    return value
