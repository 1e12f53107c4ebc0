"""Fixtures for the knowledge base: the app with a configured web-chat account (for the FAQ),
a fast follower, a low FAQ rate limit; tickets stored as the triage worker stores them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from deskgate.gateway.config import Config, parse_config
from deskgate.gateway.knowledge import KNOWLEDGE, Knowledge

FAQ_PER_MINUTE = 6
SHOP = "https://shop.example.cn"     # the site allowed to embed the widget (and ask the FAQ)


@pytest.fixture
def config(prefix: str) -> Config:
    return parse_config(f"""
redis_prefix: "{prefix}"
workers: {{block_ms: 50, claim_idle_ms: 500, lease_seconds: 600}}
knowledge: {{refresh_ms: 50, faq_per_minute: {FAQ_PER_MINUTE}}}
channels: {{webchat: {{site: {{secret: site-secret-0123456789abcdef,
                             allowed_origins: ["{SHOP}"]}}}}}}
sla:
  teams:
    team-alpha: {{skills: [alpha], managers: [alpha-lead]}}
    team-bravo: {{skills: [bravo], managers: [bravo-lead]}}
""")


@pytest.fixture
async def kb(client: Any, eventually: Callable[..., Awaitable[Any]]) -> Knowledge:
    """The gateway's knowledge service once its first build is done (until then searches
    answer `ready: false` and nothing)."""
    found = client.server.app[KNOWLEDGE]
    await eventually(lambda: _ready(found))
    return found


async def _ready(kb: Knowledge) -> bool:
    return kb.ready
