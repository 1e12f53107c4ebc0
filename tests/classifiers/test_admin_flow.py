"""What an admin does, over the HTTP API with a live triage worker: upload a Zendesk export,
import it (bad rows reported), retrain topic with a new label, read the comparison, promote,
watch the running worker switch (in /metrics and in the model_version of new tickets, routed by
a rule that names the new topic), then roll back."""

from __future__ import annotations

import re
from typing import Any

from deskgate.models.enums import Role

from .conftest import post_message, ticket_of


async def _upload(client: Any, admin: dict, name: str, body: bytes | str) -> str:
    resp = await client.post(f"/api/v1/models/uploads?name={name}", headers=admin,
                             data=body.encode() if isinstance(body, str) else body)
    assert resp.status == 201, await resp.text()
    return (await resp.json())["upload"]


async def _job(client: Any, admin: dict, job_id: str) -> dict:
    resp = await client.get(f"/api/v1/models/jobs/{job_id}", headers=admin)
    assert resp.status == 200
    return await resp.json()


def _running(metrics_text: str, task: str) -> set[str]:
    return set(re.findall(rf'deskgate_model_version{{task="{task}",version="([^"]+)",worker=',
                          metrics_text))


async def test_import_retrain_compare_promote_switch_rollback(
        live: Any, admin: dict, manager: dict, auth: Any, run_jobs: Any,
        past_tickets: Any, to_zendesk_csv: Any, eventually: Any) -> None:
    rows = past_tickets(per_topic=60)
    bad = [{"Id": "", "Description": "no id here", "Category": "billing", "Priority": "High"},
           {"Id": "z-1", "Description": "", "Subject": "", "Category": "billing"},
           {"Id": "z-2", "Description": "some text", "Category": "billing",
            "Priority": "Whenever"}]
    upload = await _upload(live, admin, "zendesk_export.csv", to_zendesk_csv(rows + bad))

    resp = await live.post("/api/v1/models/import", headers=admin,
                           json={"upload": upload, "preset": "zendesk"})
    assert resp.status == 202
    import_job = (await resp.json())["job"]
    await run_jobs()
    job = await _job(live, admin, import_job)
    assert job["status"] == "finished", job
    report = job["result"]
    assert report["imported"] == len(rows)
    assert report["errors"] == 3
    assert [e["row"] for e in report["error_rows"]] == [len(rows) + 1, len(rows) + 2,
                                                        len(rows) + 3]
    assert "priority 'Whenever'" in report["error_rows"][2]["message"]
    assert report["label_counts"]["topic"]["warranty"] == 60
    assert report["columns"]["text"] == "Description"

    resp = await live.post("/api/v1/models/train", headers=admin,
                           json={"task": "topic", "source": "history"})
    train_job = (await resp.json())["job"]
    await run_jobs()
    job = await _job(live, admin, train_job)
    assert job["status"] == "finished", job
    assert any("training" in line for line in job["logs"])
    version = job["result"]["version"]
    assert job["result"]["promoted"] is False

    detail = await (await live.get(f"/api/v1/models/topic/{version}", headers=admin)).json()
    ev = detail["evaluation"]
    assert ev["test_rows"] > 0
    assert "warranty" in ev["new_labels"]
    cand, cur = ev["candidate"], ev["current"]
    assert cand["macro_f1"] > cur["macro_f1"]
    assert cand["per_class"]["warranty"]["recall"] > 0.5
    assert cur["per_class"]["warranty"]["recall"] == 0.0
    assert len(cand["confusion"]["matrix"]) == len(cand["confusion"]["labels"])
    assert 0.0 <= cand["calibration"]["ece"] <= 1.0
    assert ev["disagreements"] == len(ev["disagreement_examples"]) or \
        len(ev["disagreement_examples"]) == 50
    manifest = detail["manifest"]
    assert manifest["data"]["label_counts"]["warranty"] > 0
    assert manifest["sha256"] == detail["sha256"]
    assert detail["trained_by"] == "admin:ops"

    # Before promotion the worker runs the packaged model and cannot say "warranty".
    integration = auth(Role.INTEGRATION)
    before = await ticket_of(live, manager, await post_message(
        live, integration, "w-before", "My device 12345 broke, is it still under warranty?"),
        eventually)
    assert before["triage"]["topic"] != "warranty"
    old_version = before["triage"]["model_version"]

    resp = await live.post(f"/api/v1/models/topic/{version}/promote", headers=admin)
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["unrouted_topics"] == []

    async def switched() -> bool:
        text = await (await live.get("/metrics")).text()
        return _running(text, "topic") == {version}
    await eventually(switched)

    after = await ticket_of(live, manager, await post_message(
        live, integration, "w-after", "手机屏幕坏了，还在保修期内，怎么保修"), eventually)
    assert after["triage"]["topic"] == "warranty"
    assert after["triage"]["model_version"] != old_version
    assert version.rsplit("-", 1)[1] in after["triage"]["model_version"]
    assert after["skill"] == "repairs"

    listing = await (await live.get("/api/v1/models", headers=admin)).json()
    assert listing["current"]["topic"] == version
    [record] = listing["versions"]["topic"]
    assert record["state"] == "current" and record["promoted_by"] == "admin:ops"

    resp = await live.post("/api/v1/models/topic/rollback", headers=admin)
    assert (await resp.json()) == {"task": "topic", "previous": version, "current": "default"}

    async def rolled_back() -> bool:
        text = await (await live.get("/metrics")).text()
        return _running(text, "topic") == {"default"}
    await eventually(rolled_back)
    again = await ticket_of(live, manager, await post_message(
        live, integration, "w-again", "手机屏幕坏了，还在保修期内，怎么保修"), eventually)
    assert again["triage"]["model_version"] == old_version
    assert again["triage"]["topic"] != "warranty"


async def test_models_api_is_admin_only(client: Any, manager: dict) -> None:
    for method, path in (("GET", "/api/v1/models"), ("POST", "/api/v1/models/train"),
                         ("POST", "/api/v1/models/topic/rollback")):
        resp = await client.request(method, path, headers=manager, json={})
        assert resp.status == 403, path
    assert (await client.get("/api/v1/models")).status == 401
