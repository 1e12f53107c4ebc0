"""The live work configuration — teams (skills, managers, business-hours calendars,
escalation, notification webhook) and SLA policies: the admin's stored document if there is
one, else the config file's `work:` section, kept live by queue/live_document.py like the
routing table."""

from __future__ import annotations

import msgspec
import redis.asyncio as aioredis

from deskgate.models.sla import WorkConfig
from deskgate.queue.keys import Keys
from deskgate.queue.live_document import LiveDocument


class WorkError(ValueError):
    pass


def parse_work(data: bytes | str, previous: WorkConfig | None = None) -> WorkConfig:
    """JSON or YAML text -> a validated WorkConfig; WorkError names the offending field.
    A team with a webhook_url but no webhook_secret keeps `previous`'s secret for that team
    (secrets are never shown, so an edited document comes back without them)."""
    import yaml  # only the admin paths parse YAML

    try:
        raw = yaml.safe_load(data)
    except yaml.YAMLError as exc:
        raise WorkError(f"not valid JSON or YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise WorkError("the SLA document is an object with `sla` (policies) and `teams`")
    teams = raw.get("teams")
    if previous is not None and isinstance(teams, dict):
        for name, team in teams.items():
            prior = previous.teams.get(name) if isinstance(name, str) else None
            if (isinstance(team, dict) and team.get("webhook_url") and prior
                    and not team.get("webhook_secret") and prior.webhook_secret):
                team["webhook_secret"] = prior.webhook_secret
    try:
        return msgspec.convert(raw, type=WorkConfig)
    except msgspec.ValidationError as exc:
        raise WorkError(str(exc)) from exc


class WorkStore(LiveDocument[WorkConfig]):
    def __init__(self, client: aioredis.Redis, keys: Keys, fallback: WorkConfig) -> None:
        super().__init__(client, keys, key=keys.work, type_=WorkConfig, fallback=fallback,
                         action="sla", describe=_describe)


def _describe(config: WorkConfig) -> str:
    return (f"{len(config.sla)} policies: {', '.join(p.name for p in config.sla)}; "
            f"{len(config.teams)} teams")
