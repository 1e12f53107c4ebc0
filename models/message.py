"""What a connector produces: one normalized inbound message, whatever the channel."""

from __future__ import annotations

import hashlib
from datetime import datetime

import msgspec

from deskgate.models.enums import Channel, IdentityKind, MessageKind


class Identity(msgspec.Struct, frozen=True, omit_defaults=True):
    """One way to recognise a customer. `value` is already normalized by the connector
    (lower-cased email, E.164 phone, "<channel>:<account>:<id>" platform id).

    `verified` is False for what a customer typed and nobody checked (a web-chat visitor's
    email): it is kept on their customer record for agents to read, but it never finds or
    joins another customer — anyone can type anyone's address."""

    kind: IdentityKind
    value: str
    verified: bool = True

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.value}"


class Sender(msgspec.Struct, frozen=True):
    """Who wrote. The first identity is the one the channel authenticated; the others are
    what the customer told us on that channel (e.g. a web-chat visitor's email), marked
    unverified unless the channel vouches for them."""

    identities: tuple[Identity, ...]
    name: str = ""


class SenderAuth(msgspec.Struct, frozen=True, omit_defaults=True):
    """What proves (or fails to prove) that an email's sender address is real. A mail header
    says anything its writer wants; only a DKIM signature or SPF result aligned with the
    address's domain (DMARC alignment), checked by us or by a trusted upstream MTA, proves it.
    `method` names the evidence that verified it ("dkim", "spf", "authentication-results");
    `detail` is the human summary an agent reads ("dkim=pass d=example.com; spf=fail; …")."""

    verified: bool = False
    method: str = ""
    detail: str = ""


class Attachment(msgspec.Struct, frozen=True, omit_defaults=True):
    """Metadata and a content reference; the bytes never travel through Redis.

    `ref` is a content-store reference ("sha256:<hex>") for bytes we hold, or the provider's
    media id / URL for media we have not fetched."""

    name: str
    content_type: str
    size: int = 0
    sha256: str = ""
    ref: str = ""
    inline: bool = False


def message_id(channel: str, account: str, external_id: str) -> str:
    """Our id for a message: a pure function of the provider's identity of it, so that every
    retry of the same delivery maps onto the same id (idempotency without a lookup)."""
    digest = hashlib.blake2b(f"{channel}\x00{account}\x00{external_id}".encode(), digest_size=12)
    return "m_" + digest.hexdigest()


class InboundMessage(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    channel: Channel
    account: str                      # which of our inboxes / bots / numbers received it
    external_id: str                  # provider's message id, unique within (channel, account)
    sender: Sender
    received_at: datetime
    text: str = ""                    # what the customer wrote now: quotes/signatures removed
    subject: str = ""
    html: str = ""
    thread_key: str = ""              # this message's own conversation key
    thread_refs: tuple[str, ...] = ()  # keys of earlier messages it answers (email References)
    ticket_ref: str = ""              # explicit ticket reference, e.g. "DG-1042" in a subject
    attachments: tuple[Attachment, ...] = ()
    kind: MessageKind = MessageKind.MESSAGE
    kind_reason: str = ""             # why a non-MESSAGE kind was chosen, for the record
    payload_id: str = ""              # provider delivery id, for support look-ups
    skill_hint: str = ""              # the account's default skill (e.g. the billing@ inbox)
    meta: dict[str, str] = msgspec.field(default_factory=dict)  # small provider extras
    # email only; None = the channel itself authenticates its senders (signed webhooks, tokens)
    sender_auth: SenderAuth | None = None

    @property
    def sender_verified(self) -> bool:
        return self.sender_auth is None or self.sender_auth.verified

    @property
    def sender_email(self) -> str:
        """The email address the sender claims (the first identity), "" if it is none."""
        ident = self.sender.identities[0] if self.sender.identities else None
        return ident.value if ident is not None and ident.kind is IdentityKind.EMAIL else ""

    @property
    def id(self) -> str:
        return message_id(self.channel, self.account, self.external_id)
