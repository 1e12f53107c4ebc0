"""Labelled past tickets for retraining: imported history (`{p}history`, one hash field per
source ticket, HSETNX so a re-import never duplicates), resolved Deskgate tickets, whose
labels are triage's guesses as the agent confirmed them or the agent's corrections (which win),
and managers' verdicts on risk flags (`{p}labels`, kind "risk"). Synchronous: read by rq jobs
and the CLI."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import redis

from deskgate.models.codec import decode, encode
from deskgate.models.learning import PastTicket
from deskgate.models.message import InboundMessage
from deskgate.models.ticket import Correction
from deskgate.models.triage import Triage
from deskgate.queue.keys import Keys
from deskgate.queue.replies import stream_entries, texts

SCAN_CHUNK = 1000
RESOLVED = (b"resolved", b"closed")


class History:
    def __init__(self, client: redis.Redis, keys: Keys) -> None:
        self._r = client
        self._k = keys

    def add_many(self, rows: Sequence[PastTicket]) -> list[bool]:
        """Store rows not stored before; True where a row was new. One round trip."""
        with self._r.pipeline(transaction=False) as pipe:
            for row in rows:
                pipe.hsetnx(self._k.history, row.key, encode(row))
            return [bool(x) for x in pipe.execute()]

    def count(self) -> int:
        return int(self._r.hlen(self._k.history))

    def imported(self) -> Iterator[PastTicket]:
        for _, raw in self._r.hscan_iter(self._k.history, count=SCAN_CHUNK):
            yield decode(raw, PastTicket)

    def resolved(self, limit: int = 2_000_000) -> Iterator[PastTicket]:
        """Resolved/closed tickets with their first message's text, newest first."""
        start = 0
        while start < limit:
            ids = texts(self._r.zrevrange(self._k.tickets, start, start + SCAN_CHUNK - 1))
            if not ids:
                return
            start += SCAN_CHUNK
            with self._r.pipeline(transaction=False) as pipe:
                for tid in ids:
                    pipe.hmget(self._k.ticket(tid), "status", "triage", "correction")
                    pipe.lindex(self._k.ticket_msgs(tid), 0)
                replies = pipe.execute()
            rows = [(tid, fields, first) for tid, fields, first in
                    zip(ids, replies[::2], replies[1::2], strict=True)
                    if fields[0] in RESOLVED and fields[1] and first]
            with self._r.pipeline(transaction=False) as pipe:
                for _, _, first in rows:
                    pipe.hget(self._k.msg(first.decode()), "json")
                messages = pipe.execute()
            for (tid, (_, triage_raw, correction_raw), _), raw in zip(rows, messages, strict=True):
                if raw:
                    yield _labelled(tid, decode(raw, InboundMessage), decode(triage_raw, Triage),
                                    decode(correction_raw, Correction) if correction_raw else None)


    def risk_verdicts(self) -> Iterator[PastTicket]:
        """A manager's last verdict per flagged ticket, as a risk label on its first message:
        "false_alarm" -> none; "escalated" -> the categories triage had flagged (a ticket
        escalated for another reason, an SLA breach, carries no risk label and is left out)."""
        verdicts: dict[str, str] = {}
        start = "-"
        while True:
            page = stream_entries(self._r.xrange(self._k.labels, min=start, count=SCAN_CHUNK))
            for _, f in page:
                if f.get(b"kind") == b"risk":
                    verdicts[f[b"ticket"].decode()] = f[b"value"].decode()
            if len(page) < SCAN_CHUNK:
                break
            start = "(" + page[-1][0]
        ids = list(verdicts)
        for at in range(0, len(ids), SCAN_CHUNK):
            chunk = ids[at:at + SCAN_CHUNK]
            with self._r.pipeline(transaction=False) as pipe:
                for tid in chunk:
                    pipe.hget(self._k.ticket(tid), "triage")
                    pipe.lindex(self._k.ticket_msgs(tid), 0)
                replies = pipe.execute()
            found = [(tid, tri, first) for tid, tri, first in
                     zip(chunk, replies[::2], replies[1::2], strict=True) if tri and first]
            with self._r.pipeline(transaction=False) as pipe:
                for _, _, first in found:
                    pipe.hget(self._k.msg(first.decode()), "json")
                messages = pipe.execute()
            for (tid, tri, _), raw in zip(found, messages, strict=True):
                if not raw:
                    continue
                flagged = [c.name for c in decode(tri, Triage).risk.categories if c.flagged]
                label = "none" if verdicts[tid] == "false_alarm" else ";".join(flagged)
                if label:
                    m = decode(raw, InboundMessage)
                    yield PastTicket(source="review", source_id=tid, text=m.text,
                                     subject=m.subject, risk=label, corrected=True)


def _labelled(ticket_id: str, message: InboundMessage, triage: Triage,
              correction: Correction | None) -> PastTicket:
    c = correction or Correction()
    return PastTicket(
        source="deskgate", source_id=ticket_id, text=message.text, subject=message.subject,
        topic=c.topic or triage.topic,
        priority=(c.priority or triage.priority).value,
        sentiment=(c.sentiment or triage.sentiment).value,
        corrected=correction is not None and bool(c.topic or c.priority or c.sentiment),
    )


__all__ = ["History", "PastTicket"]
