"""Auto-answers from the business's own data: per topic and account, a lookup webhook (the
shop's order or logistics system) receives the entities triage found and returns fields; when
the gates pass, a template (the macros' engine, models/macros.py) turns them into the answer.

Pure values and rules: the configuration and its validation, the lookup's request and its
signature, what counts as a valid lookup answer, and the gate decision. The HTTP call is
gateway/lookup.py's; the stream stage that runs it is gateway/workers/auto_answer.py's."""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Iterable
from datetime import datetime
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import msgspec

from deskgate.models.enums import IdentityKind
from deskgate.models.macros import VARIABLES, names, render
from deskgate.models.message import Identity
from deskgate.models.triage import Triage

MAX_TIMEOUT_S = 10.0
MAX_RESPONSE_BYTES = 64 * 1024
MAX_FIELD_CHARS = 500          # a field as it enters an answer text
ENTITY_LABELS = ("ORDER_ID", "TRACKING_NO", "PHONE", "EMAIL")
ANY_ACCOUNT = "*"
TOPIC = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
ACCOUNT = re.compile(r"\*|[A-Za-z0-9_-]{1,64}")

_Field = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")]
_Text = Annotated[str, msgspec.Meta(max_length=5000)]
EntityLabel = Literal["ORDER_ID", "TRACKING_NO", "PHONE", "EMAIL"]


class Condition(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The answer goes out only when response field `field` is one of `one_of` (compared as
    text): e.g. status in ("shipped", "in_transit")."""

    field: _Field
    one_of: Annotated[tuple[Annotated[str, msgspec.Meta(max_length=200)], ...],
                      msgspec.Meta(min_length=1, max_length=50)]


class Gates(msgspec.Struct, frozen=True, forbid_unknown_fields=True, omit_defaults=True):
    min_confidence: Annotated[float, msgspec.Meta(ge=0.0, le=1.0)] = 0.8
    required_fields: Annotated[tuple[_Field, ...], msgspec.Meta(max_length=50)] = ()
    condition: Condition | None = None


class LookupConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True,
                   omit_defaults=True):
    """One topic's (and account's) auto-answer. `secret` is write-only: the API never shows
    it (queue/auto_answers.py keeps the stored one when a PUT leaves it out)."""

    url: Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]
    secret: Annotated[str, msgspec.Meta(max_length=256)] = ""
    timeout_s: Annotated[float, msgspec.Meta(gt=0.0, le=MAX_TIMEOUT_S)] = 3.0
    entities: Annotated[tuple[EntityLabel, ...], msgspec.Meta(min_length=1, max_length=4)] = (
        "ORDER_ID",)
    gates: Gates = Gates()
    zh: _Text = ""
    en: _Text = ""
    enabled: bool = True
    # plain http:// to a host that is not loopback: only for a lookup on a private network
    allow_plain_http: bool = False

    def __post_init__(self) -> None:
        check_url(self.url, allow_plain_http=self.allow_plain_http)
        if self.secret and len(self.secret) < 16:
            raise ValueError("secret: use at least 16 characters")
        if not (self.zh or self.en):
            raise ValueError("an auto-answer needs a zh or an en template")
        usable = {*VARIABLES, *self.gates.required_fields}
        for lang, text in (("zh", self.zh), ("en", self.en)):
            for name in names(text):
                if name not in usable:
                    raise ValueError(
                        f"{lang}: {{{name}}} is neither a macro variable nor a field listed in "
                        "gates.required_fields (an answer must never go out with a blank)")

    def template(self, language: str) -> str:
        return (self.en or self.zh) if language == "en" else (self.zh or self.en)


def check_url(url: str, *, allow_plain_http: bool = False) -> None:
    """A lookup URL: https, because the request carries the customer's verified phones and
    emails; http:// only to a loopback host (a lookup on the same machine) or when the
    configuration says allow_plain_http (a private network the admin vouches for)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("url: an http:// or https:// URL with a host")
    if parts.username or parts.password or parts.fragment:
        raise ValueError("url: no user:password@ and no #fragment (sign with the secret)")
    if parts.scheme == "http" and not allow_plain_http and not _loopback(parts.hostname):
        raise ValueError("url: use https:// (the lookup is sent customers' verified phones and "
                         "emails); http:// only to 127.0.0.1, ::1 or localhost, or set "
                         "allow_plain_http: true for a lookup on a private network")


def _loopback(host: str) -> bool:
    if host.rstrip(".").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def config_id(account: str, topic: str) -> str:
    """"<account>/<topic>"; account "*" is the topic's answer on every account."""
    if not ACCOUNT.fullmatch(account):
        raise ValueError("account: 1-64 letters, digits, '_' or '-', or * for every account")
    if not TOPIC.fullmatch(topic):
        raise ValueError("topic: 1-64 lower-case letters, digits, '_' or '-'")
    return f"{account}/{topic}"


def choose(configs: dict[str, LookupConfig], account: str, topic: str
           ) -> tuple[str, LookupConfig] | None:
    """The account's own configuration of the topic, else the every-account one."""
    for cid in (f"{account}/{topic}", f"{ANY_ACCOUNT}/{topic}"):
        if cid in configs:
            return cid, configs[cid]
    return None


class LookupRequest(msgspec.Struct, frozen=True, kw_only=True):
    """The JSON body POSTed to the lookup URL (docs/auto-answer.md)."""

    ticket: str
    topic: str
    account: str
    channel: str
    language: str
    entities: dict[str, list[str]]
    # the sender's verified email addresses and phone numbers, so that the shop can answer
    # only about orders that belong to whoever asks
    sender: dict[str, list[str]]


def request_entities(config: LookupConfig, triage: Triage) -> dict[str, list[str]]:
    """The entities the configuration asks for that triage found (normalized value when there
    is one), at most 5 of each, in the order written."""
    out: dict[str, list[str]] = {}
    for e in triage.entities:
        if e.label in config.entities:
            found = out.setdefault(e.label, [])
            value = e.value or e.text
            if value not in found and len(found) < 5:
                found.append(value)
    return out


def sender_identities(identities: Iterable[Identity]) -> dict[str, list[str]]:
    """{"email": [...], "phone": [...]}: the verified ones only (a typed claim proves nothing)."""
    out: dict[str, list[str]] = {}
    for i in identities:
        if i.verified and i.kind in (IdentityKind.EMAIL, IdentityKind.PHONE):
            out.setdefault(i.kind.value, []).append(i.value)
    return out


class LookupFailed(Exception):
    """The lookup gave no usable answer; the message says why, for the agent."""


def parse_response(status: int, body: bytes) -> dict[str, Any]:
    """The fields of a lookup's answer: a 200 with a JSON object of at most 64 KB."""
    if status != 200:
        raise LookupFailed(f"the lookup answered HTTP {status}")
    if len(body) > MAX_RESPONSE_BYTES:
        raise LookupFailed(f"the lookup's answer is over {MAX_RESPONSE_BYTES // 1024} KB")
    try:
        fields = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise LookupFailed("the lookup's answer is not JSON") from None
    except RecursionError:
        raise LookupFailed("the lookup's answer is nested too deep") from None
    if not isinstance(fields, dict):
        raise LookupFailed("the lookup's answer is not a JSON object of fields")
    return fields


def _text(value: Any) -> str:
    if value is None:
        return ""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text[:MAX_FIELD_CHARS]


def confidence_gate(config: LookupConfig, triage: Triage) -> str:
    """"" when triage is sure enough of the topic to call the lookup, else why not."""
    if triage.confidence < config.gates.min_confidence:
        return (f"topic confidence {triage.confidence:.3f} is below the gate "
                f"{config.gates.min_confidence:.3f}")
    return ""


def answer_gate(config: LookupConfig, fields: dict[str, Any]) -> str:
    """"" when the lookup's fields let the answer go out, else why not."""
    missing = [f for f in config.gates.required_fields if not _text(fields.get(f)).strip()]
    if missing:
        return "the lookup's answer lacks " + ", ".join(missing)
    cond = config.gates.condition
    if cond is not None and _text(fields.get(cond.field)) not in cond.one_of:
        return (f"{cond.field} is {_text(fields.get(cond.field))!r}, not one of "
                + ", ".join(repr(v) for v in cond.one_of))
    return ""


def answer_text(config: LookupConfig, language: str, values: dict[str, str],
                fields: dict[str, Any]) -> str:
    """The template in the customer's language, filled with the ticket's variables (macros)
    and the lookup's fields."""
    return render(config.template(language),
                  {**values, **{f: _text(fields.get(f)) for f in config.gates.required_fields}})


class AutoAnswerRecord(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """What the auto-answer stage did with a ticket, kept on it for the agent (and the audit):
    answered, or routed to agents with the reason and whatever the lookup returned."""

    outcome: Literal["answered", "routed"]
    config: str                       # "<account>/<topic>"
    at: datetime
    reason: str = ""                  # why it was routed ("" when answered)
    fields: dict[str, Any] = {}
    lookup_ms: int = 0                # 0: the lookup was not called
    reply_id: str = ""
