"""A team's daily summary: yesterday's key figures, built from the same report functions the
API serves (models/reports.py over the rollups), rendered as zh or en text and as JSON.

Sent once per team per local day at the configured time (gateway/workers/daily_summary.py),
to a webhook (HMAC-signed JSON POST with the idempotency key "<team>:<date>") and/or by email
through the relay replies use."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import date

import msgspec

from deskgate.models import reports as r
from deskgate.models.reports import Filter

TOP_TOPICS = 5
_TIME = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
_EMAIL = re.compile(r"^[^@\s<>]{1,64}@[^@\s<>]{1,255}$")


class TeamSummary(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """Where and when one team's summary goes (local time in the team's SLA calendar zone)."""

    at: str = "08:00"
    language: str = "zh"
    webhook_url: str = ""
    webhook_secret: str = ""
    email: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not _TIME.match(self.at):
            raise ValueError(f"summary.teams: at {self.at!r} must be HH:MM (24 h)")
        if self.language not in ("zh", "en"):
            raise ValueError("summary.teams: language must be zh or en")
        if not (self.webhook_url or self.email):
            raise ValueError("summary.teams: give a webhook_url, an email list or both")
        if self.webhook_url and not self.webhook_url.startswith(("http://", "https://")):
            raise ValueError("summary.teams: webhook_url must be an http(s) URL")
        if self.webhook_url and len(self.webhook_secret) < 16:
            raise ValueError("summary.teams: a webhook needs a webhook_secret of at least 16 "
                             "characters (the receiver checks the signature with it)")
        bad = [a for a in self.email if not _EMAIL.match(a)]
        if bad or len(self.email) > 20:
            raise ValueError(f"summary.teams: email takes at most 20 plain addresses ({bad})")

    @property
    def minute_of_day(self) -> int:
        h, m = self.at.split(":")
        return int(h) * 60 + int(m)


class SummaryConfig(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    teams: dict[str, TeamSummary] = msgspec.field(default_factory=dict)
    timeout_seconds: float = 10.0           # one webhook POST, connect to last byte
    max_attempts: int = 8                   # then the day's summary is given up (logged)
    # From of the summary mail; "" = email.relay.default_from, else its first from_addresses
    from_address: str = ""

    def __post_init__(self) -> None:
        if not 1 <= self.timeout_seconds <= 120 or not 1 <= self.max_attempts <= 50:
            raise ValueError("summary: timeout_seconds must be 1-120 and max_attempts 1-50")


class Figures(msgspec.Struct, frozen=True, kw_only=True):
    team: str
    date: str                               # the local day summed, ISO
    timezone: str
    created: int
    resolved: int
    reopened: int
    first_responses: int
    first_response_attainment: float | None
    resolution_attainment: float | None
    first_response_p50_s: float | None
    first_response_p90_s: float | None
    backlog_open: int                       # open tickets when the summary was built
    backlog_over_24h: int
    csat_answers: int
    csat_mean: float | None
    csat: float | None                      # share of 4 and 5
    top_topics: tuple[tuple[str, int], ...]
    sla_breaches: int                       # first response and resolution
    escalations: int                        # by managers
    risk_reviewed: int                      # high-risk tickets reviewed (all outcomes)
    risk_escalated: int


def _one(table: r.Table) -> dict[str, r.Number]:
    rows = table.as_dicts()
    return rows[0] if rows else {}


def _int(v: r.Number) -> int:
    return int(v) if isinstance(v, int | float) else 0


def _num(v: r.Number) -> float | None:
    return float(v) if isinstance(v, int | float) else None


def figures(team: str, day: date, timezone: str, main: Mapping[str, float],
            hist: Mapping[str, float], topics: Mapping[str, float],
            open_tickets: Iterable[tuple[str, float]], now: float) -> Figures:
    """The day's figures of one team from summed rollups (main: "m", hist: "x", topics: "t"
    over the local day) and the open tickets now."""
    f = Filter(team=team)
    both = {**main, **hist}
    sla = _one(r.sla_attainment(main, f, ""))
    times = _one(r.response_times(both, f, ""))
    quality = _one(r.resolution_quality(main, f, ""))
    moves = _one(r.transfers(main, f, ""))
    sat = _one(r.csat(main, f, ""))
    review = _one(r.review(both, f, ""))
    backlog = _one(r.backlog(open_tickets, f, now, ""))
    ranked = sorted(((str(row[1]), _int(row[2])) for row in r.topics(topics, f).rows),
                    key=lambda x: (-x[1], x[0]))
    return Figures(
        team=team, date=day.isoformat(), timezone=timezone,
        created=_int(moves.get("created")), resolved=_int(quality.get("resolutions")),
        reopened=_int(quality.get("reopens")),
        first_responses=_int(sla.get("first_responses")),
        first_response_attainment=_num(sla.get("first_response_attainment")),
        resolution_attainment=_num(sla.get("resolution_attainment")),
        first_response_p50_s=_num(times.get("first_response_p50_s")),
        first_response_p90_s=_num(times.get("first_response_p90_s")),
        backlog_open=_int(backlog.get("open")),
        backlog_over_24h=sum(_int(backlog.get(b)) for b in ("1-3d", "3-7d", ">7d")),
        csat_answers=_int(sat.get("answers")), csat_mean=_num(sat.get("mean_score")),
        csat=_num(sat.get("csat")),
        top_topics=tuple((t, n) for t, n in ranked if n)[:TOP_TOPICS],
        sla_breaches=_int(sla.get("first_response_breaches"))
        + _int(sla.get("resolution_breaches")),
        escalations=_int(moves.get("escalations_by_managers")),
        risk_reviewed=sum(_int(review.get(k)) for k in (*r.REVIEW_OUTCOMES, "other")),
        risk_escalated=_int(review.get("escalated")))


TEXT = {
    "en": {"title": "Daily summary, team {team}, {date}",
           "volume": "Tickets: {created} new, {resolved} resolved, {reopened} reopened",
           "sla": "SLA: first response {frt} met, resolution {res} met; {breaches} breaches",
           "frt": "First response: p50 {p50}, p90 {p90} ({n} answered)",
           "backlog": "Backlog now: {open} open, {old} older than a day",
           "csat": "CSAT: {csat} satisfied, mean {mean} ({n} answers)",
           "topics": "Top topics: {topics}",
           "risk": "Risk: {reviewed} high-risk tickets reviewed, {escalated} escalated; "
                   "{escalations} escalations by managers",
           "none": "none", "na": "n/a"},
    "zh": {"title": "{team} 团队日报（{date}）",
           "volume": "工单：新建 {created}，解决 {resolved}，重开 {reopened}",
           "sla": "SLA：首次响应达标 {frt}，解决达标 {res}；违约 {breaches} 次",
           "frt": "首次响应时间：p50 {p50}，p90 {p90}（共 {n} 次）",
           "backlog": "当前积压：未结 {open}，超过一天 {old}",
           "csat": "满意度：满意率 {csat}，平均分 {mean}（{n} 份评价）",
           "topics": "热门主题：{topics}",
           "risk": "风险：已审核高风险工单 {reviewed}，升级 {escalated}；主管升级 {escalations} 次",
           "none": "无", "na": "暂无"},
}


def _pct(v: float | None, na: str) -> str:
    return na if v is None else f"{100 * v:.1f}%"


def _dur(v: float | None, na: str) -> str:
    if v is None:
        return na
    return f"{v / 60:.0f} min" if v < 7200 else f"{v / 3600:.1f} h"


def render(fig: Figures, language: str) -> tuple[str, str]:
    """(subject, body) of the summary in zh or en."""
    t = TEXT[language if language in TEXT else "en"]
    na = t["na"]
    topics = ", ".join(f"{name} ({n})" for name, n in fig.top_topics) or t["none"]
    lines = [
        t["volume"].format(created=fig.created, resolved=fig.resolved, reopened=fig.reopened),
        t["sla"].format(frt=_pct(fig.first_response_attainment, na),
                        res=_pct(fig.resolution_attainment, na), breaches=fig.sla_breaches),
        t["frt"].format(p50=_dur(fig.first_response_p50_s, na),
                        p90=_dur(fig.first_response_p90_s, na), n=fig.first_responses),
        t["backlog"].format(open=fig.backlog_open, old=fig.backlog_over_24h),
        t["csat"].format(csat=_pct(fig.csat, na),
                         mean=na if fig.csat_mean is None else f"{fig.csat_mean:.2f}",
                         n=fig.csat_answers),
        t["topics"].format(topics=topics),
        t["risk"].format(reviewed=fig.risk_reviewed, escalated=fig.risk_escalated,
                         escalations=fig.escalations)]
    return t["title"].format(team=fig.team, date=fig.date), "\n".join(lines)


def payload(fig: Figures, language: str) -> dict[str, object]:
    """The webhook's JSON body: the figures, the rendered text and the idempotency key."""
    subject, body = render(fig, language)
    return {"event": "daily_summary", "idempotency_key": idempotency_key(fig.team, fig.date),
            "language": language, "subject": subject, "text": body,
            "figures": msgspec.to_builtins(fig)}


def idempotency_key(team: str, day: str) -> str:
    return f"{team}:{day}"
