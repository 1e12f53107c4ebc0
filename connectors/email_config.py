"""The `email:` section of Deskgate's configuration: the SMTP listener, the support inboxes
it accepts mail for, our own addresses, the IMAP mailboxes to poll, and the limits that bound
every message. Pure values; gateway/config.py embeds EmailConfig as `Config.email`."""

from __future__ import annotations

import ipaddress
from typing import Literal

import msgspec


class SmtpConfig(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    # None = on when at least one inbox is configured (a listener with no inbox rejects all)
    enabled: bool | None = None
    host: str = "127.0.0.1"
    port: int = 2525
    hostname: str = ""                        # EHLO name; "" = the machine's FQDN
    max_message_bytes: int = 25 << 20         # larger DATA → 552
    max_recipients: int = 50
    # AUTH: login -> password (use ${ENV} references); empty = no AUTH offered
    auth_users: dict[str, str] = msgspec.field(default_factory=dict)
    auth_required: bool = False
    tls_cert: str = ""                        # PEM files; both set = STARTTLS offered
    tls_key: str = ""
    require_starttls: bool = False
    # As Postfix: smtpd_timeout (idle time allowed between commands; RFC 5321 asks for 5
    # minutes), shortened to stress_timeout_seconds while the listener is 3/4 full; the whole
    # DATA phase has its own deadline; total and per-client-address connection caps
    # (smtpd_client_connection_count_limit). A timeout or a refused connection gets 421.
    timeout_seconds: float = 300.0
    stress_timeout_seconds: float = 10.0
    data_timeout_seconds: float = 600.0
    max_connections: int = 200
    max_connections_per_client: int = 50


class InboxConfig(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    address: str                              # "support@example.com", "@example.com", or "*"
    account: str                              # InboundMessage.account for mail it receives
    skill: str = ""                           # default skill (InboundMessage.skill_hint)


class ImapConfig(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    name: str                                 # stable id: keys its UID state in Redis
    host: str
    user: str
    password: str
    account: str
    port: int = 993
    tls: bool = True                          # implicit TLS (993); False = plain (143)
    starttls: bool = False                    # with tls False: upgrade with STARTTLS
    folder: str = "INBOX"
    skill: str = ""
    # what to do with a message once it is durably ingested
    after_ingest: Literal["seen", "flag", "move", "none"] = "seen"
    flag: str = "$Deskgate"                   # keyword set by after_ingest "flag"
    move_to: str = ""                         # folder for after_ingest "move" (created if missing)
    # first contact (or UIDVALIDITY changed): take every message, or only the unseen ones
    start_from: Literal["all", "unseen"] = "unseen"
    idle: bool = True                         # use IDLE when the server offers it
    poll_seconds: float = 30.0                # without IDLE; also the IDLE re-check interval
    batch: int = 100                          # messages fetched per round trip
    timeout_seconds: float = 60.0


class MailLimits(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    max_attachments: int = 20                 # more are listed but not stored (raw is kept)
    max_attachment_bytes: int = 15 << 20
    max_text_chars: int = 64 * 1024
    max_html_chars: int = 256 * 1024          # HTML beyond this is neither kept nor read
    # Parse budget, checked on the raw bytes before the MIME parser runs (whose cost grows with
    # lines × nested multipart levels); mail over any of them becomes a degraded message with
    # its raw kept. The defaults pass a 25 MB mail of base64 attachments.
    max_header_bytes: int = 256 * 1024        # the top-level header block
    max_header_fields: int = 2000
    max_lines: int = 600_000
    max_mime_levels: int = 64                 # declared boundaries + attached messages
    max_part_delimiters: int = 5000           # lines starting with "--"
    max_line_levels: int = 8_000_000          # lines × (MIME levels + 1)


class SenderAuthConfig(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """How a sender address is verified (docs/email.md, "Who sent it"). Mail our listener
    receives straight from the sender's server is checked here: DKIM, SPF and DMARC alignment.
    Mail that a trusted MTA relayed to us (or put into an IMAP mailbox) is judged by that MTA's
    Authentication-Results header."""

    # DNS servers for DKIM keys, SPF and DMARC records: "10.0.0.53" or "127.0.0.1:5353";
    # empty = the system's (/etc/resolv.conf)
    nameservers: tuple[str, ...] = ()
    dns_timeout_seconds: float = 2.0          # one query
    dns_budget_seconds: float = 6.0           # every lookup for one message together
    max_dns_queries: int = 24                 # per message (SPF alone may use 10 + 2 void)
    max_dkim_signatures: int = 3              # signatures tried per message
    checks_in_parallel: int = 8               # messages checked at once (threads)
    # authserv-ids (RFC 8601) of our own MTAs whose Authentication-Results we believe; that MTA
    # must remove any header carrying its id from incoming mail, as RFC 8601 section 5 asks
    trusted_authserv_ids: tuple[str, ...] = ()
    # SMTP clients (addresses or networks) that are those MTAs relaying to our listener: their
    # mail is judged by its Authentication-Results, not by SPF against the relay's address
    trusted_relays: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for entry in self.nameservers:
            nameserver_address(entry)
        for relay in self.trusted_relays:
            try:
                ipaddress.ip_network(relay, strict=False)
            except ValueError:
                raise ValueError(f"email.sender_auth.trusted_relays: {relay!r} is not an IP "
                                 "address or network (e.g. 10.0.0.5 or 10.0.0.0/24)") from None
        if self.dns_timeout_seconds <= 0 or self.dns_budget_seconds <= 0:
            raise ValueError("email.sender_auth: DNS timeouts must be positive")


class RelayConfig(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """The SMTP relay replies leave through (connectors/send/email.py): the company's own MTA
    or a provider's submission service. Credentials come from here only (use ${ENV})."""

    host: str
    port: int = 587
    security: Literal["starttls", "tls", "none"] = "starttls"   # "none" only on loopback
    username: str = ""                        # AUTH when set
    password: str = ""
    ca_file: str = ""                         # trust this CA (a private relay); "" = system
    timeout_seconds: float = 30.0             # connect, and each command
    # the From of replies per email account ("Support <support@example.com>"); accounts not
    # listed use default_from
    from_addresses: dict[str, str] = msgspec.field(default_factory=dict)
    default_from: str = ""
    message_id_domain: str = ""               # "" = the From address's domain

    def __post_init__(self) -> None:
        if self.security == "none" and self.host not in ("127.0.0.1", "::1", "localhost"):
            raise ValueError("email.relay: security 'none' sends the password and every reply "
                             "in clear; use starttls or tls for a relay off this machine")
        if self.password and not self.username:
            raise ValueError("email.relay: a password needs a username")

    def sender_for(self, account: str) -> str:
        return self.from_addresses.get(account, self.default_from)


class EmailConfig(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    smtp: SmtpConfig = SmtpConfig()
    relay: RelayConfig | None = None          # outbound replies; None = email replies fail
    inboxes: tuple[InboxConfig, ...] = ()
    # mail From these (addresses or "@domain") is recorded as OWN, never ticketed
    own_addresses: tuple[str, ...] = ()
    imap: tuple[ImapConfig, ...] = ()
    limits: MailLimits = MailLimits()
    sender_auth: SenderAuthConfig = SenderAuthConfig()
    # raw mail and attachments on disk: "always" fsyncs each file before the 250/flag,
    # "everysec" flushes them within a second (as Redis' default AOF does for the stream)
    blob_fsync: Literal["always", "everysec"] = "everysec"

    def __post_init__(self) -> None:
        names = [m.name for m in self.imap]
        if len(set(names)) != len(names):
            raise ValueError("email.imap: mailbox names must be unique")
        if any(m.after_ingest == "move" and not m.move_to for m in self.imap):
            raise ValueError("email.imap: after_ingest 'move' needs move_to")
        for entry in (*(i.address for i in self.inboxes if i.address != "*"),
                      *self.own_addresses):
            if "@" not in entry:
                raise ValueError(f"email: {entry!r} is neither an address nor '@domain'"
                                 " (an inbox may also be '*': every recipient)")

    @property
    def smtp_enabled(self) -> bool:
        return bool(self.inboxes) if self.smtp.enabled is None else self.smtp.enabled

    def inbox_for(self, address: str) -> InboxConfig | None:
        """The inbox a recipient belongs to: an exact address wins over its @domain, which
        wins over a catch-all "*" (for a listener behind a relay that already chose the
        recipients, and for trying Deskgate out on loopback)."""
        address = normalize_address(address)
        domain = address[address.rfind("@"):] if "@" in address else ""
        by_domain = catch_all = None
        for inbox in self.inboxes:
            wanted = inbox.address.lower()
            if wanted == address:
                return inbox
            if wanted.startswith("@") and wanted == domain and by_domain is None:
                by_domain = inbox
            if wanted == "*" and catch_all is None and address:
                catch_all = inbox
        return by_domain or catch_all

    def is_own(self, address: str) -> bool:
        """Our own addresses: the configured ones and every exact inbox address (a support
        inbox writing to another is a loop, not a customer)."""
        address = normalize_address(address)
        if not address:
            return False
        domain = address[address.rfind("@"):]
        own = {a.lower() for a in self.own_addresses}
        own.update(i.address.lower() for i in self.inboxes
                   if not i.address.startswith("@") and i.address != "*")
        return address in own or domain in own


def nameserver_address(entry: str) -> tuple[str, int]:
    """"10.0.0.53", "127.0.0.1:5353", "::1", "[::1]:5353" -> (IP, port)."""
    host, port = entry.strip(), "53"
    if host.startswith("["):
        host, _, rest = host[1:].partition("]")
        port = rest.removeprefix(":") or "53"
    elif host.count(":") == 1:
        host, _, port = host.partition(":")
    try:
        ipaddress.ip_address(host)
        number = int(port)
        if not 0 < number < 65536:
            raise ValueError(port)
    except ValueError:
        raise ValueError(f"email.sender_auth.nameservers: {entry!r} is not an IP address with "
                         "an optional port (e.g. 10.0.0.53 or 127.0.0.1:5353)") from None
    return host, number


def normalize_address(address: str) -> str:
    """The identity form of an email address: trimmed, without angle brackets, lower-cased
    (mailboxes are case-insensitive in practice at every provider customers use)."""
    return address.strip().strip("<>").strip().lower()
