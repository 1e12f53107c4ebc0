"""Reports managers decide with, as pure functions over summed rollup counters
(models/rollup.py names the fields; queue/rollups.py sums them over a date range).

Every report is a `Table` (columns and rows), so the API's JSON, the CSV download and the
console's charts show the same numbers. Rates are fractions (0.0-1.0), durations seconds."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping

import msgspec

from deskgate.models.rollup import EDGES, SEP

Number = float | int | str | None


class Filter(msgspec.Struct, frozen=True, kw_only=True):
    """What the caller may and wants to see. `teams` None: every team (admins)."""

    teams: frozenset[str] | None = None
    team: str = ""
    channel: str = ""
    priority: str = ""

    def team_ok(self, team: str) -> bool:
        return (self.teams is None or team in self.teams) and (not self.team or team == self.team)

    def main_ok(self, team: str, channel: str, priority: str) -> bool:
        return (self.team_ok(team) and (not self.channel or channel == self.channel)
                and (not self.priority or priority == self.priority))


class Table(msgspec.Struct, frozen=True):
    name: str
    columns: tuple[str, ...]
    rows: tuple[tuple[Number, ...], ...]

    def as_dicts(self) -> list[dict[str, Number]]:
        return [dict(zip(self.columns, r, strict=True)) for r in self.rows]


GROUPS = ("team", "channel", "priority", "policy")


class MainRow(msgspec.Struct, frozen=True):
    metric: str
    team: str
    channel: str
    priority: str
    policy: str
    n: float


def main_rows(sums: Mapping[str, float], f: Filter) -> list[MainRow]:
    """Fields "<metric>|team|channel|priority|policy" the filter lets through."""
    out = []
    for field, n in sums.items():
        parts = field.split(SEP)
        if len(parts) == 5 and f.main_ok(parts[1], parts[2], parts[3]):
            out.append(MainRow(parts[0], parts[1], parts[2], parts[3], parts[4], n))
    return out


def _grouped(rows: Iterable[MainRow], by: str) -> dict[str, dict[str, float]]:
    """{group value: {metric: n}}; by "" puts everything in one group "all"."""
    out: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for r in rows:
        out[getattr(r, by) if by else "all"][r.metric] += r.n
    return out


def _rate(num: float, den: float) -> float | None:
    return round(num / den, 4) if den else None


def percentile(hist: Mapping[int, float], q: float) -> float | None:
    """The upper edge (seconds) of the bin where the q-quantile falls; None for no data
    (the open last bin reads as its lower edge: "more than 14 days")."""
    total = sum(hist.values())
    if total <= 0:
        return None
    rank, seen = q * total, 0.0
    for b in sorted(hist):
        seen += hist[b]
        if seen >= rank - 1e-9:
            return EDGES[b] if b < len(EDGES) else EDGES[-1]
    return EDGES[-1]


def _hist(m: Mapping[str, float], metric: str) -> dict[int, float]:
    prefix = f"{metric}_h"
    return {int(k[len(prefix):]): v for k, v in m.items()
            if k.startswith(prefix) and k[len(prefix):].isdigit()}


def _check_group(by: str) -> None:
    if by and by not in GROUPS:
        raise ValueError(f"group_by must be one of {', '.join(GROUPS)}")


def sla_attainment(sums: Mapping[str, float], f: Filter, by: str = "policy") -> Table:
    _check_group(by)
    rows = []
    for g, m in sorted(_grouped(main_rows(sums, f), by).items()):
        rows.append((g, int(m["frt_n"]), int(m["frt_met"]), _rate(m["frt_met"], m["frt_n"]),
                     int(m["breach_frt"]), int(m["res_n"]), int(m["res_met"]),
                     _rate(m["res_met"], m["res_n"]), int(m["breach_res"])))
    return Table("sla", (by or "all", "first_responses", "first_response_met",
                         "first_response_attainment", "first_response_breaches",
                         "resolutions", "resolution_met", "resolution_attainment",
                         "resolution_breaches"), tuple(rows))


def response_times(sums: Mapping[str, float], f: Filter, by: str = "") -> Table:
    """First-response and first-resolution times in business seconds: p50, p90 (upper bin
    edges) and the mean."""
    _check_group(by)
    rows = []
    for g, m in sorted(_grouped(main_rows(sums, f), by).items()):
        row: list[Number] = [g]
        for metric in ("frt", "res"):
            hist, n = _hist(m, metric), m[f"{metric}_n"]
            row += [int(n), percentile(hist, 0.5), percentile(hist, 0.9),
                    round(m[f"{metric}_s"] / n, 1) if n else None]
        rows.append(tuple(row))
    return Table("times", (by or "all", "first_responses", "first_response_p50_s",
                           "first_response_p90_s", "first_response_mean_s", "resolutions",
                           "resolution_p50_s", "resolution_p90_s", "resolution_mean_s"),
                 tuple(rows))


def resolution_quality(sums: Mapping[str, float], f: Filter, by: str = "") -> Table:
    """First-contact resolution (resolved without transfer, wait on the customer or reopen,
    among first resolutions) and reopen rate (reopens per resolution)."""
    _check_group(by)
    rows = []
    for g, m in sorted(_grouped(main_rows(sums, f), by).items()):
        rows.append((g, int(m["res_n"]), int(m["fcr"]), _rate(m["fcr"], m["res_n"]),
                     int(m["resolved"]), int(m["reopen"]), _rate(m["reopen"], m["resolved"])))
    return Table("fcr", (by or "all", "first_resolutions", "fcr", "fcr_rate", "resolutions",
                         "reopens", "reopen_rate"), tuple(rows))


def auto_answer(sums: Mapping[str, float], f: Filter, by: str = "") -> Table:
    """Auto-answers: eligible tickets (their topic had an auto-answer configured and the stage
    decided on them), those answered automatically and the deflection rate (answered /
    eligible); of the answered, those the customer reopened by writing again (counted in the
    hour of the answer) and the reopen rate (reopened / answered)."""
    _check_group(by)
    rows = []
    for g, m in sorted(_grouped(main_rows(sums, f), by).items()):
        if m["aa_eligible"] or m["aa_answered"] or m["aa_reopened"]:
            rows.append((g, int(m["aa_eligible"]), int(m["aa_answered"]),
                         _rate(m["aa_answered"], m["aa_eligible"]), int(m["aa_reopened"]),
                         _rate(m["aa_reopened"], m["aa_answered"])))
    return Table("auto-answer", (by or "all", "eligible", "answered", "deflection_rate",
                                 "reopened", "reopen_rate"), tuple(rows))


def transfers(sums: Mapping[str, float], f: Filter, by: str = "team") -> Table:
    _check_group(by)
    rows = []
    for g, m in sorted(_grouped(main_rows(sums, f), by).items()):
        rows.append((g, int(m["created"]), int(m["transfer"]), _rate(m["transfer"], m["created"]),
                     int(m["escalate"]), int(m["breach_frt"] + m["breach_res"])))
    return Table("transfers", (by or "all", "created", "transfers", "transfers_per_ticket",
                               "escalations_by_managers", "sla_breach_escalations"), tuple(rows))


def csat(sums: Mapping[str, float], f: Filter, by: str = "") -> Table:
    """Surveys offered and answered, the mean score, CSAT (share of 4 and 5) and the spread."""
    _check_group(by)
    rows = []
    for g, m in sorted(_grouped(main_rows(sums, f), by).items()):
        n = m["csat_n"]
        rows.append((g, int(m["csat_offered"]), int(n), _rate(n, m["csat_offered"]),
                     round(m["csat_points"] / n, 2) if n else None,
                     _rate(m["csat_4"] + m["csat_5"], n),
                     *(int(m[f"csat_{k}"]) for k in range(1, 6))))
    return Table("csat", (by or "all", "surveys", "answers", "response_rate", "mean_score",
                          "csat", "score_1", "score_2", "score_3", "score_4", "score_5"),
                 tuple(rows))


REVIEW_OUTCOMES = ("acknowledged", "false_alarm", "escalated")


def review(sums: Mapping[str, float], f: Filter, by: str = "") -> Table:
    _check_group(by)
    rows = []
    for g, m in sorted(_grouped(main_rows(sums, f), by).items()):
        outcomes = {k.removeprefix("review_"): v for k, v in m.items()
                    if k.startswith("review_") and not k.startswith(("review_h", "review_s"))}
        other = sum(v for k, v in outcomes.items() if k not in REVIEW_OUTCOMES)
        hist = _hist(m, "review")
        timed = sum(hist.values())
        rows.append((g, *(int(outcomes.get(o, 0)) for o in REVIEW_OUTCOMES), int(other),
                     percentile(hist, 0.5), percentile(hist, 0.9),
                     round(m["review_s"] / timed, 1) if timed else None))
    return Table("review", (by or "all", *REVIEW_OUTCOMES, "other", "time_to_review_p50_s",
                            "time_to_review_p90_s", "time_to_review_mean_s"), tuple(rows))


def _team_rows(sums: Mapping[str, float], f: Filter) -> Iterable[tuple[str, str, str, float]]:
    """(metric, team, value, n) of a skill, topic or agent projection."""
    for field, n in sums.items():
        parts = field.split(SEP)
        if len(parts) == 3 and f.team_ok(parts[1]):
            yield parts[0], parts[1], parts[2], n


def agents(sums: Mapping[str, float], f: Filter, seconds: float) -> Table:
    """Per agent: tickets assigned and resolved, hours held, average handle time per
    resolved ticket and average concurrent load (tickets held at once over the range)."""
    m: dict[tuple[str, str], dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for metric, team, agent, n in _team_rows(sums, f):
        m[(team, agent)][metric] += n
    rows = []
    for (team, agent), v in sorted(m.items()):
        rows.append((team, agent, int(v["assigned"]), int(v["handled"]), int(v["responded"]),
                     round(v["held_s"] / 3600, 2),
                     round(v["held_s"] / v["handled"], 1) if v["handled"] else None,
                     round(v["held_s"] / seconds, 3) if seconds else None))
    return Table("agents", ("team", "agent", "assigned", "handled", "first_responses",
                            "held_hours", "handle_time_s", "concurrent_load"), tuple(rows))


def by_value(name: str, metrics: tuple[str, ...]) -> Callable[[Mapping[str, float], Filter],
                                                             Table]:
    """A skill or topic breakdown: the counts per team and value."""
    def report(sums: Mapping[str, float], f: Filter) -> Table:
        m: dict[tuple[str, str], dict[str, float]] = defaultdict(lambda: defaultdict(float))
        for metric, team, value, n in _team_rows(sums, f):
            m[(team, value)][metric] += n
        rows: tuple[tuple[Number, ...], ...] = tuple(
            (team, value, *(int(v[x]) for x in metrics)) for (team, value), v in sorted(m.items()))
        return Table(name, ("team", name, *metrics), rows)
    return report


skills = by_value("skill", ("created", "resolved", "transfer_out"))
topics = by_value("topic", ("created", "resolved", "fcr", "reopen"))


def triage_quality(sums: Mapping[str, float], f: Filter) -> tuple[Table, Table]:
    """Override rate per task and model version (labels agents gave at resolve that differ
    from triage's), and the confusion (predicted -> corrected) behind it."""
    labelled: dict[tuple[str, str], dict[str, float]] = defaultdict(lambda: defaultdict(float))
    confusion: dict[tuple[str, str, str, str], float] = defaultdict(float)
    resolved: dict[str, float] = defaultdict(float)
    for field, n in sums.items():
        parts = field.split(SEP)
        if parts[0] == "resolved" and len(parts) == 3 and f.team_ok(parts[1]):
            resolved[parts[2]] += n
        elif parts[0] == "c" and len(parts) == 6 and f.team_ok(parts[1]):
            task, model, pred, actual = parts[2:]
            labelled[(task, model)]["n"] += n
            if pred != actual:
                labelled[(task, model)]["over"] += n
            confusion[(task, model, pred, actual)] += n
    rates = tuple((task, model, int(resolved[model]), int(v["n"]), int(v["over"]),
                   _rate(v["over"], v["n"])) for (task, model), v in sorted(labelled.items()))
    matrix = tuple((*k, int(n)) for k, n in sorted(confusion.items()))
    return (Table("triage", ("task", "model_version", "resolved", "labelled", "overridden",
                             "override_rate"), rates),
            Table("confusion", ("task", "model_version", "predicted", "corrected", "tickets"),
                  matrix))


AGE_BANDS: tuple[tuple[str, float], ...] = (
    ("<1h", 3600), ("1-4h", 4 * 3600), ("4-24h", 86400), ("1-3d", 3 * 86400),
    ("3-7d", 7 * 86400), (">7d", float("inf")))


def backlog(open_tickets: Iterable[tuple[str, float]], f: Filter, now: float,
            by: str = "team") -> Table:
    """Open tickets now by age band (wall-clock age since opening)."""
    _check_group(by)
    counts: dict[str, list[int]] = defaultdict(lambda: [0] * len(AGE_BANDS))
    for member, at in open_tickets:
        parts = member.split(SEP)
        if len(parts) != 5 or not f.main_ok(parts[1], parts[2], parts[3]):
            continue
        group = parts[1 + GROUPS.index(by)] if by else "all"
        age = now - at
        band = next(i for i, (_, top) in enumerate(AGE_BANDS) if age < top)
        counts[group][band] += 1
    rows: tuple[tuple[Number, ...], ...] = tuple(
        (g, sum(c), *c) for g, c in sorted(counts.items()))
    return Table("backlog", (by or "all", "open", *(b for b, _ in AGE_BANDS)), rows)


SERIES_METRICS = frozenset({"created", "resolved", "reopen", "frt_n", "frt_met", "res_n",
                            "res_met"})


def volume_series(series: Iterable[tuple[int, Mapping[str, float]]]) -> Table:
    """Per bucket ({metric: n}, already filtered): created, resolved, reopened, first
    responses and SLA attainment."""
    rows = []
    for start, m in series:
        g = defaultdict(float, m)
        rows.append((start, int(g["created"]), int(g["resolved"]), int(g["reopen"]),
                     int(g["frt_n"]), _rate(g["frt_met"], g["frt_n"]),
                     _rate(g["res_met"], g["res_n"])))
    return Table("series", ("bucket_start", "created", "resolved", "reopens",
                            "first_responses", "first_response_attainment",
                            "resolution_attainment"), tuple(rows))


def heatmap(sums: Mapping[str, float], f: Filter, offset_hours: int = 0) -> Table:
    """Tickets opened by weekday (0 = Monday) x hour of day, shifted to the viewer's whole-hour
    UTC offset, from the heat projection ("w<weekday><hour>|team")."""
    grid = [[0] * 24 for _ in range(7)]
    for field, n in sums.items():
        cell, _, team = field.partition(SEP)
        if len(cell) != 4 or not cell[1:].isdigit() or not f.team_ok(team):
            continue
        slot = (int(cell[1]) * 24 + int(cell[2:]) + offset_hours) % 168
        grid[slot // 24][slot % 24] += int(n)
    return Table("heatmap", ("weekday", *(f"h{h:02d}" for h in range(24))),
                 tuple((d, *grid[d]) for d in range(7)))


CSV_DANGER = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Number) -> str:
    """A cell a spreadsheet will not run as a formula (OWASP CSV injection)."""
    if value is None:
        return ""
    if isinstance(value, int | float):
        return str(value)           # a number is data; "-3" must stay a number
    return "'" + value if value.startswith(CSV_DANGER) else value
