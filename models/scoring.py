"""A ticket's place in its skill queue, as one number: lower is served first.

score = time it entered the queue − priority boost − VIP boost. A P1 that arrived now sorts as
if it had waited PRIORITY_BOOST[P1] seconds already, so priority wins first; but a P4 that has
waited longer than the gap overtakes a fresh P1 — nothing starves. Scores never change after
enqueue, so the claim script needs no aging pass."""

from __future__ import annotations

from deskgate.models.enums import Priority

PRIORITY_BOOST_SECONDS: dict[Priority, float] = {
    Priority.P1: 24 * 3600.0,
    Priority.P2: 8 * 3600.0,
    Priority.P3: 2 * 3600.0,
    Priority.P4: 0.0,
}
VIP_BOOST_SECONDS = 4 * 3600.0


def queue_score(enqueued_at: float, priority: Priority, tier: str = "standard") -> float:
    boost = PRIORITY_BOOST_SECONDS[priority] + (VIP_BOOST_SECONDS if tier == "vip" else 0.0)
    return enqueued_at - boost
