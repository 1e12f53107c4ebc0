"""Deskgate's configuration: one YAML file (``--config`` or ``DESKGATE_CONFIG``), validated on
load into typed values, with ``${ENV_VAR}`` references expanded so secrets stay out of it.
Without a file, the packaged ``config/default.yaml`` gives a working single-machine setup."""

from __future__ import annotations

import functools
import ipaddress
import logging
import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec
import yaml

from deskgate.connectors.email_config import EmailConfig
from deskgate.models.csat import SurveyConfig
from deskgate.models.delivery import AutoAckConfig
from deskgate.models.errors import Invalid
from deskgate.models.routing import RoutingTable
from deskgate.models.sla import SlaConfig
from deskgate.models.summary import SummaryConfig
from deskgate.queue.connection import is_sentinel_url, parse_sentinel_url
from deskgate.queue.keys import TENANT_PATTERN, Keys, tenant_prefix
from deskgate.queue.persistence import DurabilityConfig

CONFIG_ENV = "DESKGATE_CONFIG"
DEFAULT_CONFIG = Path(__file__).parent / "config" / "default.yaml"
log = logging.getLogger("deskgate.config")
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class ConfigError(Invalid):
    """The configuration file cannot be used as it is (the message says where)."""


Network = ipaddress.IPv4Network | ipaddress.IPv6Network
MAX_TRUSTED_PROXIES = 256    # each is checked against every hop of a forwarded header


@functools.lru_cache(maxsize=8)
def proxy_networks(entries: tuple[str, ...]) -> tuple[Network, ...]:
    """`http.trusted_proxies` as networks (a bare address is its /32 or /128); ValueError
    saying which entry is wrong and how to write it."""
    if len(entries) > MAX_TRUSTED_PROXIES:
        raise ValueError(f"http.trusted_proxies: at most {MAX_TRUSTED_PROXIES} entries; "
                         "list the proxies' networks (10.0.0.0/8), not each address")
    networks = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry.strip(), strict=True))
        except ValueError as exc:
            raise ValueError(f"http.trusted_proxies: {entry!r} is not an IP address or "
                             f"network ({exc}); write e.g. 10.0.0.5, 10.0.0.0/8 or fd00::/8"
                             ) from None
    return tuple(networks)


class HttpConfig(msgspec.Struct, kw_only=True, frozen=True):
    host: str = "127.0.0.1"
    port: int = 8080
    max_body_bytes: int = 1 << 20          # webhook/API request bodies; larger → 413
    public_url: str = ""                   # as providers see us (Twilio signs the full URL)
    # A connection must send a complete request head within this long of connecting or of
    # its previous response (also the idle keep-alive limit); else it is closed.
    header_timeout_seconds: float = 20.0
    # A request body must arrive within this long (streamed uploads: between two chunks).
    body_timeout_seconds: float = 30.0
    max_connections: int = 2048            # open HTTP connections; past it a new one gets 503
    # The reverse proxies / load balancers (IPs or CIDRs) whose `forwarded_header` names the
    # client (gateway/web/client.py). Empty: no such header is believed, since any caller
    # can write one; every per-address limit counts the connection's peer.
    trusted_proxies: tuple[str, ...] = ()
    # The one header those proxies set: "X-Forwarded-For" or "Forwarded" (RFC 7239). Only one:
    # a proxy passes the other through as the caller wrote it.
    forwarded_header: Literal["X-Forwarded-For", "Forwarded"] = "X-Forwarded-For"

    def __post_init__(self) -> None:
        proxy_networks(self.trusted_proxies)   # a wrong entry fails at load, saying which


class RedisPoolConfig(msgspec.Struct, kw_only=True, frozen=True):
    """The gateway's Redis connections (queue/connection.py). When all are busy a request waits
    up to `wait_seconds` for one, then gets 503 "busy" with Retry-After; the health check and
    /metrics, the persistence guard and the token-revocation listener have their own four
    connections, so a busy pool never fails them."""

    max_connections: Annotated[int, msgspec.Meta(ge=1, le=10_000)] = 100
    wait_seconds: Annotated[float, msgspec.Meta(ge=0.01, le=30)] = 2.0


class WorkerConfig(msgspec.Struct, kw_only=True, frozen=True):
    count: int = 1                         # triage workers inside `serve`
    batch: int = 256                       # stream entries read per XREADGROUP
    block_ms: int = 200
    linger_ms: int = 5                     # after a small read, wait this long for more
    claim_idle_ms: int = 30_000            # a pending entry idle this long is taken over
    lease_seconds: int = 600               # an agent's claim lasts this long unless renewed
    keep_acked_seconds: int = 60           # acknowledged ingest entries kept, then trimmed


class SenderConfig(msgspec.Struct, kw_only=True, frozen=True):
    """The sender workers that deliver replies (gateway/send_worker.py)."""

    count: int = 1                         # `deskgate senders` processes inside `serve`
    concurrency: int = 64                  # sends in flight per process
    batch: int = 128                       # outbox entries read per XREADGROUP
    block_ms: int = 200
    claim_idle_ms: int = 60_000            # a dead sender's entry is taken over after this
    max_attempts: int = 8                  # then the reply fails and goes to outbox:dead
    http_timeout_seconds: float = 20.0     # one provider call, connect to last byte
    max_response_bytes: int = 1 << 20      # a provider answer larger than this is an error
    keep_acked_seconds: int = 3600         # acknowledged outbox entries kept, then trimmed


class ConsoleConfig(msgspec.Struct, kw_only=True, frozen=True):
    # shown to managers in the guidance on a self-harm flag, e.g. "988 (US)" or
    # "北京心理危机干预中心 010-82951332"; empty: the guidance asks them to use the local one
    crisis_line: str = ""


class KnowledgeConfig(msgspec.Struct, kw_only=True, frozen=True):
    # resolved tickets each gateway keeps indexed for suggestions (the newest; ~1 KB of
    # memory each, README "Knowledge base")
    max_tickets: Annotated[int, msgspec.Meta(ge=1, le=2_000_000)] = 200_000
    refresh_ms: Annotated[int, msgspec.Meta(ge=10, le=60_000)] = 500  # how often it follows
    # the web-chat FAQ (public): questions + feedback per client address per minute
    faq_per_minute: Annotated[int, msgspec.Meta(ge=1, le=10_000)] = 30


class Config(msgspec.Struct, kw_only=True, frozen=True):
    redis_prefix: str = "dg:"
    # The Redis every process uses (DESKGATE_REDIS_URL wins): redis://host:6379/0, unix://…,
    # or a Sentinel group, redis+sentinel://h1:26379,h2:26379/mymaster/0 (queue/connection.py;
    # passwords as ${ENV_VAR}). Empty: `serve` runs a private embedded Redis.
    redis_url: str = ""
    # a deployment, or a group of channel accounts, sharing one Redis Cluster hash slot
    tenant: Annotated[str, msgspec.Meta(pattern=f"^({TENANT_PATTERN.pattern})?$")] = ""
    http: HttpConfig = HttpConfig()
    workers: WorkerConfig = WorkerConfig()
    routing: RoutingTable = RoutingTable()
    sla: SlaConfig = SlaConfig()        # teams, SLA policies, sweeper (models/sla.py)
    # channel -> account -> that connector's own settings (validated by the connector)
    channels: dict[str, dict[str, dict[str, Any]]] = msgspec.field(default_factory=dict)
    email: EmailConfig = EmailConfig()    # SMTP listener, support inboxes, IMAP mailboxes
    durability: DurabilityConfig = DurabilityConfig()  # what an acknowledgement promises
    console: ConsoleConfig = ConsoleConfig()
    senders: SenderConfig = SenderConfig()
    auto_ack: AutoAckConfig = AutoAckConfig()   # acknowledgement of new tickets
    csat: SurveyConfig = SurveyConfig()         # the survey over the customer's channel
    summary: SummaryConfig = SummaryConfig()    # each team's daily summary (webhook, email)
    knowledge: KnowledgeConfig = KnowledgeConfig()   # articles, suggestions, the FAQ
    redis_pool: RedisPoolConfig = RedisPoolConfig()  # the gateway's Redis connections

    def __post_init__(self) -> None:
        if is_sentinel_url(self.redis_url):  # a malformed one fails at load, saying why
            try:
                parse_sentinel_url(self.redis_url)
            except Invalid as exc:
                raise ValueError(f"redis_url: {exc.message}") from None

    def keys(self) -> Keys:
        """The key names of this deployment: "<redis_prefix>{<tenant>}:…" with a tenant."""
        return Keys(tenant_prefix(self.redis_prefix, self.tenant))


def _expand(value: Any) -> Any:
    if isinstance(value, str):
        def sub(m: re.Match[str]) -> str:
            name = m.group(1)
            if name not in os.environ:
                raise ConfigError(f"the config refers to ${{{name}}}, which is not set")
            return os.environ[name]
        return _ENV_REF.sub(sub, value)
    if isinstance(value, dict):
        return {k: _expand(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand(v) for v in value]
    return value


def parse_config(text: str, source: str = "<config>") -> Config:
    try:
        raw = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML: {exc}") from exc
    if isinstance(raw, dict) and "work" in raw and "sla" not in raw:
        # The section's name before "work" came to mean only an agent's claimed tickets.
        log.warning("%s: the `work:` section is now called `sla:`; please rename it", source)
        raw["sla"] = raw.pop("work")
    if isinstance(raw, dict) and isinstance(raw.get("durability"), str):
        raw["durability"] = {"mode": raw["durability"]}  # `durability: always`, the short form
    try:
        return msgspec.convert(_expand(raw), type=Config)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"{source}: {exc}") from exc


def load_config(path: str | Path | None = None) -> Config:
    path = path or os.environ.get(CONFIG_ENV)
    if path:
        p = Path(path)
        try:
            return parse_config(p.read_text(encoding="utf-8"), str(p))
        except OSError as exc:
            raise ConfigError(f"cannot read config {p}: {exc.strerror}") from exc
    return parse_config(DEFAULT_CONFIG.read_text(encoding="utf-8"), str(DEFAULT_CONFIG))
