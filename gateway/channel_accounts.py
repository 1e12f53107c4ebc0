"""The webhook accounts a gateway serves right now: the config file's `channels:` (validated
once at start-up; a bad file stops the gateway) overlaid with the accounts admins stored
through the API (queue/channels.py).

Each gateway checks the store's revision at most every REFRESH_SECONDS and re-reads the stored
accounts only when it moved, so an admin's change reaches every gateway within about a second
at the cost of one GET per second per gateway. If Redis cannot be read, the last known accounts
keep verifying deliveries (their ingest then answers 503 anyway)."""

from __future__ import annotations

import logging
import re
import time
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from deskgate.connectors.base import Connector, SettingsError
from deskgate.connectors.registry import CONNECTORS
from deskgate.gateway.config import Config, ConfigError
from deskgate.models.ids import ACCOUNT
from deskgate.queue.channels import ChannelStore
from deskgate.queue.keys import Keys
from deskgate.queue.live_document import REFRESH_SECONDS

log = logging.getLogger("deskgate.channels")

ACCOUNT_NAME = re.compile(rf"^{ACCOUNT.pattern.pattern}$")

Accounts = dict[tuple[str, str], tuple[Connector, Any]]


def load_accounts(config: Config) -> Accounts:
    """Validate every configured account of every webhook channel, once, at start-up.
    Channels without a connector here (email) belong to other intake paths."""
    accounts: Accounts = {}
    for channel, per_account in config.channels.items():
        connector = CONNECTORS.get(channel)
        if connector is None:
            continue
        for account, raw in per_account.items():
            if not ACCOUNT_NAME.match(account):
                raise ConfigError(f"channels.{channel}: account name {account!r} must be "
                                  "1-64 letters, digits, _ or -")
            try:
                accounts[(channel, account)] = (connector, connector.settings(raw or {}))
            except SettingsError as exc:
                raise ConfigError(f"{exc} (account {account!r})") from exc
    return accounts


class LiveAccounts:
    def __init__(self, config: Config) -> None:
        self._file = load_accounts(config)
        self._accounts: Accounts = dict(self._file)
        self._rev = 0
        self._checked = float("-inf")

    def invalidate(self) -> None:
        """Re-check on the next look-up (this gateway just changed an account)."""
        self._checked = float("-inf")

    async def get(self, client: aioredis.Redis, keys: Keys, channel: str,
                  account: str) -> tuple[Connector, Any] | None:
        now = time.monotonic()
        if now - self._checked >= REFRESH_SECONDS:
            self._checked = now      # before the await: concurrent requests do not all re-read
            try:
                await self._refresh(ChannelStore(client, keys))
            except (RedisError, OSError) as exc:
                log.warning("channel accounts not refreshed (%s); using the last known", exc)
        return self._accounts.get((channel, account))

    async def of_channel(self, client: aioredis.Redis, keys: Keys,
                         channel: str) -> list[tuple[str, Any]]:
        """Every account of `channel` as (name, settings), as `get` would find them now."""
        await self.get(client, keys, channel, "")
        return [(account, found[1]) for (c, account), found in self._accounts.items()
                if c == channel]

    async def _refresh(self, store: ChannelStore) -> None:
        if await store.rev() == self._rev:
            return
        rev, stored = await store.all()
        accounts = dict(self._file)
        for (channel, account), value in stored.items():
            connector = CONNECTORS.get(channel)
            try:
                if connector is None:
                    raise SettingsError(f"no connector for channel {channel!r}")
                accounts[(channel, account)] = (connector, connector.settings(value.settings))
            except SettingsError as exc:
                # validated when saved, so only a connector upgrade gets here; refusing the
                # account is safer than falling back to credentials the admin replaced
                accounts.pop((channel, account), None)
                log.error("stored account %s/%s is no longer valid, refusing its deliveries: %s",
                          channel, account, exc)
        self._accounts, self._rev = accounts, rev
