"""Risk end to end over the HTTP API with a live triage worker: a self-harm message becomes a P1
ticket at the front of the managers' review queue; a manager's false alarm and escalation become
risk labels; the risk model retrains on them with the corpus, is compared and promoted, and the
worker switches to it."""

from __future__ import annotations

import re
from typing import Any

import redis

from deskgate.models.enums import Role
from deskgate.queue.history import History
from deskgate.queue.keys import Keys

from .conftest import post_message, ticket_of

SELF_HARM = "钱都被骗光了，我真的不想活了，今晚就想结束这一切"
LEGAL = "再不退款我就找律师起诉你们，还要去12315投诉"
CALM = "请问这款耳机有没有降噪功能"


async def test_self_harm_reaches_the_front_and_verdicts_retrain_risk(
        live: Any, auth: Any, token: Any, run_jobs: Any, eventually: Any,
        r: redis.Redis, keys: Keys) -> None:
    integration, manager = auth(Role.INTEGRATION), auth(Role.MANAGER)
    admin = {"Authorization": f"Bearer {token(Role.ADMIN, label='ops')}"}

    legal = await ticket_of(live, manager, await post_message(live, integration, "r-legal", LEGAL),
                          eventually)
    calm = await ticket_of(live, manager, await post_message(live, integration, "r-calm", CALM),
                         eventually)
    harm = await ticket_of(live, manager, await post_message(live, integration, "r-harm", SELF_HARM),
                         eventually)
    assert legal["triage"]["risk"]["high"] and not legal["triage"]["risk"]["urgent"]
    assert not calm["triage"]["risk"]["high"]
    assert harm["priority"] == "P1"
    risk = harm["triage"]["risk"]
    assert risk["urgent"] and risk["high"]
    assert risk["categories"][0]["name"] == "self_harm" and risk["categories"][0]["flagged"]
    assert set(risk["categories"][0]) == {"name", "score", "threshold", "flagged", "reasons"}

    review = await (await live.get("/api/v1/review", headers=manager)).json()
    ids = [i["ticket_id"] for i in review["items"]]
    assert ids[0] == harm["id"], review      # arrived last, listed first
    assert legal["id"] in ids and calm["id"] not in ids
    first = review["items"][0]
    assert first["urgent"] is True and "self harm" in first["reasons"]
    assert 0 < first["since"] <= review["items"][1]["since"] + 60   # a real time, not the offset
    assert [i["urgent"] for i in review["items"]] == [True] + [False] * (len(ids) - 1)

    resp = await live.post(f"/api/v1/review/{legal['id']}", headers=manager,
                           json={"action": "false_alarm"})
    assert resp.status == 200, await resp.text()
    resp = await live.post(f"/api/v1/review/{harm['id']}", headers=manager,
                           json={"action": "escalate"})
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["outcome"] == "escalated"

    verdicts = {t.source_id: t for t in History(r, keys).risk_verdicts()}
    assert verdicts[legal["id"]].risk == "none" and verdicts[legal["id"]].text == LEGAL
    assert "self_harm" in verdicts[harm["id"]].risk.split(";")

    resp = await live.post("/api/v1/models/train", headers=admin,
                           json={"task": "risk", "source": "tickets"})
    assert resp.status == 202, await resp.text()
    job_id = (await resp.json())["job"]
    await run_jobs()
    job = await (await live.get(f"/api/v1/models/jobs/{job_id}", headers=admin)).json()
    assert job["status"] == "finished", job
    version = job["result"]["version"]
    detail = await (await live.get(f"/api/v1/models/risk/{version}", headers=admin)).json()
    ev = detail["evaluation"]
    assert ev["data"]["rows_by_source"]["review"] == 2
    assert ev["data"]["rows_by_source"]["corpus"] > 1000
    assert ev["test_rows"] > 100
    for side in ("current", "candidate"):
        assert set(ev[side]["per_class"]) >= {"self_harm", "legal_regulator"}
        assert 0.0 <= ev[side]["any_precision"] <= 1.0
    assert "passes" in ev["policy"]
    assert detail["manifest"]["params"]["thresholds"]["self_harm"] > 0

    resp = await live.post(f"/api/v1/models/risk/{version}/promote", headers=admin)
    assert resp.status == 200, await resp.text()

    async def switched() -> bool:
        text = await (await live.get("/metrics")).text()
        return set(re.findall(r'deskgate_model_version\{task="risk",version="([^"]+)"',
                              text)) == {version}
    await eventually(switched)
    again = await ticket_of(live, manager, await post_message(live, integration, "r-again", SELF_HARM),
                          eventually)
    assert version.rsplit("-", 1)[1] in again["triage"]["model_version"]
    assert again["triage"]["risk"]["urgent"]


def test_risk_rows_from_an_upload_are_checked_and_override_the_corpus(
        r: redis.Redis, keys: Keys, data_dir: Any) -> None:
    from deskgate.gateway.retraining import pipeline as retraining
    from deskgate.triage.risk_training import training_rows

    uploads = data_dir / "uploads"
    uploads.mkdir(parents=True, exist_ok=True)
    corpus_text, corpus_labels = next((t, c) for t, c in training_rows() if c)
    (uploads / "risk.csv").write_text(
        "text,labels\n"
        f"\"{corpus_text}\",none\n"
        "我要去消协投诉,legal_regulator\n"
        "The parcel is late,none\n"
        "bad label here,weather\n", encoding="utf-8")
    rows, used = retraining.examples(r, keys, data_dir, "risk", {
        "source": "upload", "upload": "risk.csv", "label_col": "labels"})
    got = dict(rows)
    assert corpus_labels and got[corpus_text] == "none"   # the admin's file wins over the corpus
    assert got["我要去消协投诉"] == "legal_regulator" and got["The parcel is late"] == "none"
    assert "bad label here" not in got
    assert used["skipped"] == {"not a risk label: weather": 1}
    assert used["rows_by_source"]["upload"] == 3
    assert len(rows) == len(dict(training_rows()) | got)
