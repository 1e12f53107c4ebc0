"""One pattern per kind of id, used at every edge (HTTP paths and bodies, the CLI) before an id
reaches a Redis key or a file name: an id that could be another key's suffix ("DG-6:msgs",
"bo:tickets") or a path ("../../x") is refused here, never looked up."""

from __future__ import annotations

import re

import msgspec

from deskgate.models.errors import Invalid


class IdRule(msgspec.Struct, frozen=True):
    kind: str                 # "ticket id"
    pattern: re.Pattern[str]
    hint: str                 # what a valid one looks like

    def check(self, value: str, field: str = "") -> str:
        """The id itself, or Invalid naming the field and the rule."""
        if not isinstance(value, str) or not self.pattern.fullmatch(value):
            shown = value[:64] if isinstance(value, str) else type(value).__name__
            raise Invalid(f"{shown!r} is not a {self.kind}: {self.hint}",
                          field=field or self.kind.replace(" ", "_"))
        return value


TICKET_ID = IdRule("ticket id", re.compile(r"DG-[0-9]{1,18}"), "DG- and a number, e.g. DG-1042")
# Unicode letters and digits (a Chinese helpdesk has agents called 李雷), '_', '-' and '.';
# never ':' or '/' (key and path separators), blanks or control characters.
AGENT_ID = IdRule("agent id", re.compile(r"\w[\w.-]{0,63}"),
                  "1-64 letters, digits, '_', '-' or '.', starting with a letter or digit")
CUSTOMER_ID = IdRule("customer id", re.compile(r"c_[0-9]{1,18}"), "c_ and a number, e.g. c_42")
MESSAGE_ID = IdRule("message id", re.compile(r"m_[0-9a-f]{24}"), "m_ and 24 hex digits")
TOKEN_ID = IdRule("token id", re.compile(r"[0-9a-f]{8,64}"),
                  "8-64 hex digits, as token listings show")
JOB_ID = IdRule("job id", re.compile(r"[A-Za-z0-9_-]{1,64}"),
                "1-64 letters, digits, '_' or '-', as job listings show")
MODEL_VERSION = IdRule("model version", re.compile(r"(?!.*\.\.)[A-Za-z0-9][A-Za-z0-9_.-]{0,99}"),
                       "as `deskgate models list` shows it, e.g. topic-20250101T000000-1a2b3c4d")
# A channel or API account: part of thread, customer and external-id keys, so never ':'.
ACCOUNT = IdRule("account name", re.compile(r"[A-Za-z0-9_-]{1,64}"),
                 "1-64 letters, digits, '_' or '-'")
# An audit-stream position: "+" (the newest) or a stream entry id the previous page returned.
CURSOR = IdRule("cursor", re.compile(r"\+|[0-9]{1,20}-[0-9]{1,20}"),
                "the `next` value of the previous page")

# Path parameters by name: the HTTP edge checks every one it sees before any handler runs.
PATH_IDS: dict[str, IdRule] = {"ticket_id": TICKET_ID, "agent_id": AGENT_ID,
                               "message_id": MESSAGE_ID, "token_id": TOKEN_ID,
                               "job_id": JOB_ID, "version": MODEL_VERSION}
