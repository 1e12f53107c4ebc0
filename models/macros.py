"""Macros (canned replies): a zh and an en text with variables, and what choosing one also
does to the ticket (status, skill, labels). Pure values and the rendering rule."""

from __future__ import annotations

import re
import string
from typing import Annotated, Literal

import msgspec

from deskgate.models.triage import Triage

MACRO_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
MAX_TEXT = 5000
# what a macro text may name, and where it comes from
VARIABLES = {
    "customer_name": "the customer's name",
    "ticket": "the ticket number (DG-…)",
    "order_number": "the first order number triage found",
    "tracking_number": "the first tracking number triage found",
    "agent": "the answering agent's id",
    "status_link": "a signed link where the customer follows the ticket, no login needed",
}
_ENTITY_VARS = {"order_number": "ORDER_ID", "tracking_number": "TRACKING_NO"}
_Text = Annotated[str, msgspec.Meta(max_length=MAX_TEXT)]
_Label = Annotated[str, msgspec.Meta(min_length=1, max_length=40, pattern=r"^[\w\-.:]+$")]


class Macro(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True,
            omit_defaults=True):
    title: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    zh: _Text = ""
    en: _Text = ""
    set_status: Literal["pending", "resolved"] | None = None   # after the reply goes out
    set_skill: Annotated[str, msgspec.Meta(max_length=64)] = ""
    labels: Annotated[tuple[_Label, ...], msgspec.Meta(max_length=20)] = ()

    def __post_init__(self) -> None:
        if not (self.zh or self.en):
            raise ValueError("a macro needs a zh or an en text")
        for lang, text in (("zh", self.zh), ("en", self.en)):
            for name in names(text):
                if name not in VARIABLES:
                    raise ValueError(f"{lang}: unknown variable {{{name}}}; use "
                                     + ", ".join(f"{{{v}}}" for v in VARIABLES))

    def text(self, language: str) -> str:
        """The text in the customer's language, else the other one."""
        return (self.en or self.zh) if language == "en" else (self.zh or self.en)


def names(text: str) -> list[str]:
    """The variables a template names (auto-answers validate theirs with it too)."""
    try:
        return [f for _, f, _, _ in string.Formatter().parse(text) if f is not None]
    except ValueError as exc:
        raise ValueError(f"bad braces ({exc}): write {{{{ and }}}} for a literal brace") from None


def variables(*, ticket: str, customer_name: str, agent: str, triage: Triage | None,
              status_link: str = "") -> dict[str, str]:
    found = {label: "" for label in _ENTITY_VARS.values()}
    for e in triage.entities if triage else ():
        if e.label in found and not found[e.label]:
            found[e.label] = e.text
    return {"ticket": ticket, "customer_name": customer_name, "agent": agent,
            "status_link": status_link,
            **{var: found[label] for var, label in _ENTITY_VARS.items()}}


def render(text: str, values: dict[str, str]) -> str:
    """Fill the variables (a value missing on this ticket becomes empty). Only plain names are
    allowed at save time, so no attribute or index lookups run here."""
    return text.format_map({name: values.get(name, "") for name in names(text)})
