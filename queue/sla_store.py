"""The live work configuration — teams (skills, managers, business-hours calendars,
escalation, notification webhook) and SLA policies: the admin's stored document if there is
one, else the config file's `sla:` section, kept live by queue/live_document.py like the
routing table."""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis

from deskgate.models.sla import SlaConfig
from deskgate.queue.keys import Keys
from deskgate.queue.live_document import LiveDocument


def keep_secrets(doc: dict[str, Any], previous: SlaConfig) -> dict[str, Any]:
    """An edited document (parsed, not yet validated) with `previous`'s webhook_secret kept
    for each team that has a webhook_url but no secret: secrets are never shown, so an edited
    document comes back without them."""
    teams = doc.get("teams")
    if isinstance(teams, dict):
        for name, team in teams.items():
            prior = previous.teams.get(name) if isinstance(name, str) else None
            if (isinstance(team, dict) and team.get("webhook_url") and prior
                    and not team.get("webhook_secret") and prior.webhook_secret):
                team["webhook_secret"] = prior.webhook_secret
    return doc


class SlaConfigStore(LiveDocument[SlaConfig]):
    def __init__(self, client: aioredis.Redis, keys: Keys, fallback: SlaConfig) -> None:
        super().__init__(client, keys, key=keys.work, type_=SlaConfig, fallback=fallback,
                         action="sla", describe=_describe)


def _describe(config: SlaConfig) -> str:
    return (f"{len(config.sla)} policies: {', '.join(p.name for p in config.sla)}; "
            f"{len(config.teams)} teams")
