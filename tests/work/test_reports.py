"""Report rollups against the real scripts and a real Redis: tickets driven through their life
with explicit `now` arguments, every figure checked against a hand-computed expectation, and
the rebuild from the audit stream giving the same figures."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime

import msgspec
import redis.asyncio as aioredis

from deskgate.gateway.cli.main import main
from deskgate.models import reports
from deskgate.models.csat import sign
from deskgate.models.enums import Priority, Role
from deskgate.models.reports import Filter
from deskgate.models.sla import Calendar, SlaConfig, Team
from deskgate.models.ticket import Agent, Correction
from deskgate.queue.audit import AuditLog
from deskgate.queue.csat import Surveys
from deskgate.queue.keys import Keys
from deskgate.queue.rollups import Rollups
from deskgate.queue.sla import Sla
from deskgate.queue.work import Work

MON = datetime(2026, 11, 30, 9, 0, tzinfo=UTC).timestamp()     # a Monday, 09:00 UTC
H = 3600.0
CONFIG = SlaConfig(teams={
    "care": Team(skills=("care", "care2"), managers=("mia",),
                 calendar=Calendar(timezone="UTC", hours={
                     d: ("09:00-18:00",) for d in ("mon", "tue", "wed", "thu", "fri")})),
    "sales": Team(skills=("sales",))})


async def _life(aclient: aioredis.Redis, keys: Keys, enqueue) -> dict[str, str]:
    """Five tickets, each one kind of life; returns their ids by name."""
    work = Work(aclient, keys, lease_seconds=10 * 24 * 3600)
    sla = Sla(aclient, keys, CONFIG, lease_seconds=10 * 24 * 3600)
    for a in ("ann", "bo"):
        await work.put_agent(Agent(id=a, skills={"care": 1, "care2": 1}, capacity=10,
                                   team="care"))
    ids: dict[str, str] = {}

    async def opened(name: str, queue: str, at: float, prio: Priority = Priority.P3,
                     **kw: object) -> str:
        tid = await enqueue(queue, at, prio, **kw)
        assert await sla.start([tid], at) == 1
        ids[name] = tid
        return tid

    # A: claimed after 10 min, answered after 30, resolved after 60: first contact
    a = await opened("a", "care", MON)
    assert (await work.claim("ann", MON + 600)).ticket_id == a
    assert (await work.act("respond", a, "ann", privileged=False, now=MON + 1800)).outcome == "ok"
    assert (await work.resolve(a, "ann", privileged=False, now=MON + H)).outcome == "ok"

    # B: claimed by bo, transferred to ann's queue, resolved by ann at +2 h without a reply:
    # the resolve is its first response; not first contact (transferred)
    b = await opened("b", "care", MON + 60)
    assert (await work.claim("bo", MON + 120)).ticket_id == b
    assert (await work.act("transfer_queue", b, "bo", privileged=False, arg="care2",
                           now=MON + 600)).outcome == "ok"
    assert (await work.claim("ann", MON + 900)).ticket_id == b
    assert (await work.resolve(b, "ann", privileged=False, now=MON + 60 + 2 * H)).outcome == "ok"

    # C: opened Monday 17:00, answered Tuesday 09:30 (1.5 business hours), resolved Tuesday
    # 10:00 with a topic correction, then reopened by the agent at 11:00: FCR taken back
    c = await opened("c", "care", MON + 8 * H)
    assert (await work.claim("ann", MON + 8.5 * H)).ticket_id == c
    assert (await work.act("respond", c, "ann", privileged=False,
                           now=MON + 24.5 * H)).outcome == "ok"
    assert (await work.resolve(c, "ann", privileged=False, now=MON + 25 * H,
                               correction=Correction(topic="refund",
                                                     priority=Priority.P3))).outcome == "ok"
    assert (await work.act("reopen", c, "ann", privileged=False, arg="not fixed",
                           extra={"timers": {}}, now=MON + 26 * H)).outcome == "ok"

    # D: high-risk, in review from opening; a manager calls it a false alarm after 15 min
    d = await opened("d", "sales", MON + 120, high_risk=True)
    assert (await work.act("false_alarm", d, "mia", privileged=True,
                           now=MON + 120 + 900)).outcome == "ok"

    # E: urgent (60 min around the clock), breached, then answered at +70 min
    e = await opened("e", "care", MON + 300, Priority.P1)
    assert (await sla.sweep(MON + 300 + 3601)).breaches == 1
    assert (await work.claim("bo", MON + 300 + 3700)).ticket_id == e
    assert (await work.act("respond", e, "bo", privileged=False,
                           now=MON + 300 + 70 * 60)).outcome == "ok"
    return ids


async def test_a_scripted_day_figure_by_figure(aclient, keys, enqueue) -> None:
    ids = await _life(aclient, keys, enqueue)
    rollups = Rollups(aclient, keys, CONFIG)
    folded = await rollups.catch_up(batch=7)        # small batches: state crosses batches
    assert folded == 20                             # every entry of the five lives
    start, end = MON - 9 * H, MON + 15 * H + 24 * H   # Monday and Tuesday, whole UTC days
    m = await rollups.sums("m", start, end, Filter()) | await rollups.sums("x", start, end,
                                                                          Filter())
    f = Filter()

    sla = {r["policy"]: r for r in reports.sla_attainment(m, f).as_dicts()}
    # normal (P3): A, B, C answered, none breached; A, B, C resolved in time
    assert sla["normal"]["first_responses"] == 3 and sla["normal"]["first_response_met"] == 3
    assert sla["normal"]["resolutions"] == 3 and sla["normal"]["resolution_attainment"] == 1.0
    # urgent: E answered after the breach
    assert sla["urgent"]["first_responses"] == 1
    assert sla["urgent"]["first_response_attainment"] == 0.0
    assert sla["urgent"]["first_response_breaches"] == 1
    assert "high" not in sla

    times = {r["policy"]: r for r in reports.response_times(m, f, "policy").as_dicts()}
    # normal first responses: A 30 min, B 120 min, C 90 business min -> p50 bin of 90 min
    assert times["normal"]["first_response_p50_s"] == 90 * 60
    assert times["normal"]["first_response_p90_s"] == 120 * 60
    assert times["normal"]["first_response_mean_s"] == (1800 + 7200 + 5400) / 3
    # resolutions: A 60 min, B 120 min, C 120 business min (17-18 Monday, 9-10 Tuesday)
    assert times["normal"]["resolution_mean_s"] == (3600 + 7200 + 7200) / 3
    assert times["normal"]["resolution_p50_s"] == 120 * 60
    # E runs around the clock: 70 min
    assert times["urgent"]["first_response_mean_s"] == 70 * 60

    [fcr] = reports.resolution_quality(m, f).as_dicts()
    # first resolutions A, B, C; only A was first contact (B transferred, C reopened)
    assert (fcr["first_resolutions"], fcr["fcr"], fcr["reopens"]) == (3, 1, 1)
    assert fcr["fcr_rate"] == round(1 / 3, 4) and fcr["reopen_rate"] == round(1 / 3, 4)

    tr = {r["team"]: r for r in reports.transfers(m, f).as_dicts()}
    assert tr["care"]["created"] == 4 and tr["care"]["transfers"] == 1
    assert tr["care"]["sla_breach_escalations"] == 1 and tr["sales"]["created"] == 1

    [rev] = reports.review(m, f).as_dicts()
    assert (rev["false_alarm"], rev["acknowledged"], rev["escalated"]) == (1, 0, 0)
    assert rev["time_to_review_mean_s"] == 900.0

    # backlog: C (reopened), D and E are open; at Tuesday 12:00 their ages are 19 h, ~27 h
    now = MON + 27 * H
    bl = {r["team"]: r for r in reports.backlog(await rollups.open_tickets(), f, now).as_dicts()}
    assert bl["care"]["open"] == 2 and bl["care"]["4-24h"] == 1 and bl["care"]["1-3d"] == 1
    assert bl["sales"]["open"] == 1

    ag = {r["agent"]: r for r in
          reports.agents(await rollups.sums("a", start, end, Filter()), f, end - start).as_dicts()}
    # ann resolved A, B, C; held A 50 min, B 1 h 46 min (MON+900 .. MON+7260), C 16.5 h
    assert ag["ann"]["handled"] == 3
    held_ann = (H - 600) + (60 + 2 * H - 900) + (25 * H - 8.5 * H)
    assert ag["ann"]["held_hours"] == round(held_ann / 3600, 2)
    # bo held B from +2 min to the transfer at +10 min, and holds E since +65 min (still held)
    assert ag["bo"]["handled"] == 0 and ag["bo"]["assigned"] == 2

    tq, confusion = reports.triage_quality(await rollups.sums("q", start, end, Filter()), f)
    rows = {(r["task"]): r for r in tq.as_dicts()}
    assert rows["topic"]["labelled"] == 1 and rows["topic"]["overridden"] == 1
    assert rows["priority"]["labelled"] == 1 and rows["priority"]["overridden"] == 0
    assert ("topic", "-", "other", "refund", 1) in confusion.rows

    # a Monday-to-Monday range is read as one week bucket: the same sums as its seven days
    week = await rollups.sums("m", start, start + 7 * 86400, f)
    days: dict[str, float] = {}
    for d in range(7):
        for k, v in (await rollups.sums("m", start + d * 86400, start + (d + 1) * 86400, f)).items():
            days[k] = days.get(k, 0.0) + v
    assert week == {k: v for k, v in days.items() if v} and week["created|care|api|P3|normal"] == 3

    # scoping: a filter to sales sees only D
    only_sales = Filter(teams=frozenset({"sales"}))
    assert {r["team"] for r in reports.transfers(m, only_sales).as_dicts()} == {"sales"}
    assert ids


async def test_rebuild_gives_identical_figures_and_replay_counts_once(
        aclient, keys, enqueue) -> None:
    await _life(aclient, keys, enqueue)
    rollups = Rollups(aclient, keys, CONFIG)
    await rollups.catch_up(batch=5)
    span = (MON - 30 * 86400, MON + 30 * 86400)
    before = {p: await rollups.sums(p, *span, Filter()) for p in ("m", "x", "s", "t", "a", "q", "c")}
    open_before = await rollups.open_tickets()
    # a second consumer started from the same position folds nothing twice
    assert await rollups.step() == 0
    assert await Rollups(aclient, keys, CONFIG).catch_up() == 0
    # a rebuild first marks the position: a worker folds nothing while the rollups are cleared
    await aclient.set(keys.rpt_pos, "rebuilding")
    assert await Rollups(aclient, keys, CONFIG).step() == 0
    assert await rollups.rebuild(batch=3) == 20
    after = {p: await rollups.sums(p, *span, Filter()) for p in ("m", "x", "s", "t", "a", "q", "c")}
    assert after == before
    assert await rollups.open_tickets() == open_before
    assert before["m"] and before["a"] and before["q"]


def test_csv_cells_never_run_as_formulas() -> None:
    cells = ["=1+1", "+cmd", "-2+3", "@SUM(A1)", "\tx", "\rx", "ok", "售后"]
    assert [reports.csv_cell(c) for c in cells] == [
        "'=1+1", "'+cmd", "'-2+3", "'@SUM(A1)", "'\tx", "'\rx", "ok", "售后"]
    assert reports.csv_cell(-3) == "-3" and reports.csv_cell(None) == ""


async def test_api_scoped_to_the_managers_teams_with_csv(aclient, keys, enqueue, config,
                                                         make_client, auth) -> None:
    await _life(aclient, keys, enqueue)
    await Rollups(aclient, keys, CONFIG).catch_up()
    client = await make_client(msgspec.structs.replace(config, sla=CONFIG))
    span = "from=2026-11-30&to=2026-12-02"

    admin = await client.get(f"/api/v1/reports/transfers?{span}", headers=auth(Role.ADMIN))
    assert admin.status == 200
    body = await admin.json()
    assert {row[0] for row in body["rows"]} == {"care", "sales"} and body["teams"] is None
    assert body["columns"][:3] == ["team", "created", "transfers"]

    mia = auth(Role.MANAGER, "mia")               # manages care only
    mine = await (await client.get(f"/api/v1/reports/transfers?{span}", headers=mia)).json()
    assert [row[0] for row in mine["rows"]] == ["care"] and mine["teams"] == ["care"]
    other = await client.get(f"/api/v1/reports/sla?{span}&team=sales", headers=mia)
    assert other.status == 403
    agent = await client.get(f"/api/v1/reports/sla?{span}", headers=auth(Role.AGENT, "ann"))
    assert agent.status == 403

    sla = await (await client.get(f"/api/v1/reports/sla?{span}&priority=P1",
                                  headers=auth(Role.ADMIN))).json()
    assert [row[0] for row in sla["rows"]] == ["urgent"]

    got = await client.get(f"/api/v1/reports/agents?{span}&format=csv", headers=mia)
    assert got.status == 200 and got.headers["Content-Type"].startswith("text/csv")
    text = (await got.read()).decode("utf-8-sig")
    lines = text.splitlines()
    assert lines[0].startswith("team,agent,assigned,handled")
    assert any(line.startswith("care,ann,") for line in lines[1:])

    for bad, field in (("from=yesterday", "from"), ("channel=fax", "channel"),
                       ("from=2020-01-01&to=2026-01-01", "from"), ("group_by=x", "group_by")):
        resp = await client.get(f"/api/v1/reports/sla?{bad}", headers=auth(Role.ADMIN))
        assert resp.status == 400, bad
        assert field in json.dumps(await resp.json())
    assert (await client.get("/api/v1/reports/nope", headers=auth(Role.ADMIN))).status == 404

    heat = await (await client.get(f"/api/v1/reports/heatmap?{span}",
                                   headers=auth(Role.ADMIN))).json()
    monday = heat["rows"][0]
    # A, B, D, E opened Monday 09:00-09:05, C at 17:00; with +08:00 they move to 17h and 01h
    assert monday[1 + 9] == 4 and monday[1 + 17] == 1 and sum(monday[1:]) == 5
    east = await (await client.get(f"/api/v1/reports/heatmap?{span}&tz_offset_hours=8",
                                   headers=auth(Role.ADMIN))).json()
    assert east["rows"][0][1 + 17] == 4 and east["rows"][1][1 + 1] == 1
    series = await (await client.get(f"/api/v1/reports/series?{span}&channel=api",
                                     headers=mia)).json()
    # by hour (two days): care's created A, B, E at 09:00, C at 17:00; resolved A at 10:00
    by_start = {row[0]: row for row in series["rows"]}
    assert by_start[MON][1] == 3 and by_start[MON + 8 * H][1] == 1
    assert by_start[MON + H][2] == 1 and sum(row[1] for row in series["rows"]) == 4

    doc = await (await client.get("/api/v1/openapi.json")).json()
    assert "/api/v1/reports/{name}" in doc["paths"]


async def test_cli_rebuild(aclient, keys, enqueue, redis_url, prefix, tmp_path, monkeypatch,
                           capsys) -> None:
    await _life(aclient, keys, enqueue)
    rollups = Rollups(aclient, keys, CONFIG)
    await rollups.catch_up()
    before = await rollups.sums("a", MON - 86400, MON + 3 * 86400, Filter())
    monkeypatch.setenv("DESKGATE_REDIS_URL", redis_url)
    conf = tmp_path / "c.yaml"
    conf.write_text(f'redis_prefix: "{prefix}"\n')
    # main() runs its own event loop: give it a thread
    assert await asyncio.to_thread(main, ["reports", "rebuild", "--config", str(conf)]) == 0
    assert "rebuilt from 20 audit entries" in capsys.readouterr().out
    # held time is calendar-free, so the config file's (default) teams give the same sums
    assert await rollups.sums("a", MON - 86400, MON + 3 * 86400, Filter()) == before


async def test_csat_signed_link_once_per_ticket_into_history_and_reports(
        aclient, keys, enqueue, config, make_client, auth) -> None:
    client = await make_client(msgspec.structs.replace(config, sla=CONFIG))
    work = Work(aclient, keys, lease_seconds=600)
    await work.put_agent(Agent(id="ann", skills={"care": 1}, capacity=5, team="care"))
    tid = await enqueue("care", time.time())
    await Sla(aclient, keys, CONFIG).start([tid], time.time())
    assert (await work.claim("ann", time.time())).ticket_id == tid
    ann = auth(Role.AGENT, "ann")
    resolved = await (await client.post(f"/api/v1/tickets/{tid}/resolve", json={},
                                        headers=ann)).json()
    url = resolved["survey_url"]
    path = url[url.index("/csat/"):]
    # the hook for delivery on the customer's channel
    [(_, offer)] = await aclient.xrange(keys.csat_offers)
    assert offer[b"ticket"] == tid.encode() and path.endswith(offer[b"token"].decode())

    zh = await client.get(path, headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    assert zh.status == 200 and "满意" in await zh.text()
    en = await client.get(path + "?lang=en")
    assert "How satisfied" in await en.text()
    forged = path[:-3] + ("AAA" if not path.endswith("AAA") else "BBB")
    assert (await client.get(forged)).status == 403
    secret = await Surveys(aclient, keys).secret()
    expired = "/csat/" + sign(tid, int(time.time()) - 1, secret)
    assert (await client.post(expired, data={"score": "5"})).status == 403

    assert (await client.post(path, data={"score": "9"})).status == 400
    got = await client.post(path + "?lang=zh", data={"score": "4", "comment": "<b>很好</b>"})
    assert got.status == 200 and "感谢" in await got.text()
    again = await client.post(path, data={"score": "1"})
    assert again.status == 409                      # one answer per ticket

    # reopened and resolved again: no second survey
    assert (await work.act("reopen", tid, "ann", privileged=True, extra={"timers": {}},
                           now=time.time())).outcome == "ok"
    assert (await work.claim("ann", time.time())).ticket_id == tid
    second = await (await client.post(f"/api/v1/tickets/{tid}/resolve", json={},
                                      headers=ann)).json()
    assert "survey_url" not in second
    history = [(e.action, e.after, e.detail) for e in await AuditLog(aclient, keys).history(tid)]
    assert ("csat", "4", "<b>很好</b>") in history

    await Rollups(aclient, keys, CONFIG).catch_up()
    report = await (await client.get("/api/v1/reports/csat", headers=auth(Role.ADMIN))).json()
    [row] = report["rows"]
    assert row[1:6] == [1, 1, 1.0, 4.0, 1.0] and row[6:] == [0, 0, 0, 1, 0]

    # answers are limited per address (the earlier posts count too)
    statuses = [(await client.post(path, data={"score": "5"})).status for _ in range(20)]
    assert statuses[-1] == 429 and 409 in statuses


async def test_one_group_reports_summed_in_redis_and_the_bucket_cache_follows_changes(
        aclient, keys, enqueue) -> None:
    from deskgate.gateway.web.api.reports import REPORTS, Query

    ids = await _life(aclient, keys, enqueue)
    rollups = Rollups(aclient, keys, CONFIG)
    await rollups.catch_up()
    start, end = MON - 9 * H, MON + 15 * H + 24 * H
    for f in (Filter(), Filter(team="care", channel="api"), Filter(teams=frozenset({"sales"}))):
        m = await rollups.sums("m", start, end, f) | await rollups.sums("x", start, end, f)
        q = Query(start=start, end=end, now=end, filter=f)
        # the dimensions summed away in Redis give the figures the full fields give
        # and so do the team projections (no channel or priority asked for)
        for name, fn, by in (("times", reports.response_times, ""),
                             ("fcr", reports.resolution_quality, ""),
                             ("review", reports.review, ""), ("csat", reports.csat, ""),
                             ("transfers", reports.transfers, "team"),
                             ("sla", reports.sla_attainment, "policy")):
            got = await REPORTS[name](rollups, q)
            assert got.rows == fn(m, f, by).rows, (name, f)
        series = await REPORTS["series"](rollups, msgspec.structs.replace(q, start=MON - 9 * H))
        assert series.rows == reports.volume_series(await rollups.series(
            "m", MON - 9 * H, end, "h", reports.SERIES_METRICS, f)).rows
        assert sum(row[1] for row in series.rows) == sum(
            v for k, v in m.items() if k.startswith("created|"))
    # an installation that had rollups before the team projections reads them only after
    await aclient.set(keys.rpt_team_since, MON + 10 * H)
    late = Rollups(aclient, keys, CONFIG)
    assert not await late.team_projections_cover(start)
    assert await late.team_projections_cover(MON + 10 * H)
    # a bucket read before (and kept by this process) is read again once its counters move
    before = await rollups.sums("m", start, end, Filter())
    await aclient.xadd(keys.audit, {"ts": MON + 3 * H, "actor": "bo", "action": "escalate",
                                    "ticket": ids["a"], "before": "P3 general",
                                    "after": "P2 general", "detail": "manager"})
    assert await rollups.catch_up() == 1
    after = await rollups.sums("m", start, end, Filter())
    assert sum(v for k, v in after.items() if k.startswith("escalate|")) == \
        sum(v for k, v in before.items() if k.startswith("escalate|")) + 1


async def test_survey_pages_are_limited_per_address(config, make_client) -> None:
    from deskgate.queue.csat import VIEWS_PER_WINDOW

    client = await make_client(config)
    # guessing links: each try is a page shown to that address, then it must wait
    codes = [(await client.get(f"/csat/DG-1.1999999999.{'A' * 27}")).status
             for _ in range(VIEWS_PER_WINDOW + 1)]
    assert codes[:-1] == [403] * VIEWS_PER_WINDOW
    last = await client.get(f"/csat/DG-1.1999999999.{'A' * 27}?lang=en")
    assert codes[-1] == 429 and last.status == 429 and "try again in" in await last.text()


async def test_cli_summary_previews_a_day_and_refuses_what_it_cannot_do(
        aclient, keys, enqueue, redis_url, prefix, tmp_path, monkeypatch, capsys) -> None:
    await _life(aclient, keys, enqueue)
    await Rollups(aclient, keys, CONFIG).catch_up()
    monkeypatch.setenv("DESKGATE_REDIS_URL", redis_url)
    conf = tmp_path / "c.yaml"
    conf.write_text(f'redis_prefix: "{prefix}"\n'
                    "sla: {teams: {care: {skills: [care, care2]}, sales: {skills: [sales]}}}\n")
    day = datetime.fromtimestamp(MON, UTC).date().isoformat()
    argv = ["reports", "summary", "--config", str(conf), "--team", "care", "--date", day]
    assert await asyncio.to_thread(main, [*argv, "--lang", "en"]) == 0
    out = capsys.readouterr().out
    assert f"Daily summary, team care, {day}" in out and "Tickets: 4 new" in out
    assert await asyncio.to_thread(main, [*argv, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["idempotency_key"] == f"care:{day}" and doc["figures"]["created"] == 4
    # --send without a target, an unknown team: a clear refusal, nothing sent
    assert await asyncio.to_thread(main, [*argv, "--send"]) != 0
    assert "add it under summary.teams" in capsys.readouterr().err
    assert await asyncio.to_thread(main, [*argv[:-4], "--team", "nope"]) != 0
    assert "no team 'nope'" in capsys.readouterr().err
