"""What must not happen: a cancelled job (in a real `deskgate retraining-worker` process) or a worse model
changing the current model, a tampered or exposed artifact being loaded, a bad file imported."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import redis

from deskgate.gateway.retraining import classifier_store
from deskgate.gateway.retraining.jobs import cancel, enqueue, job_view
from deskgate.gateway.retraining.pipeline import is_test
from deskgate.gateway.workers.classifier_watch import start
from deskgate.gateway.workers.triage import load_triager
from deskgate.models.learning import PastTicket
from deskgate.queue.classifier_registry import ClassifierRegistry
from deskgate.queue.history import History
from deskgate.queue.keys import Keys
from deskgate.triage.artifacts import ArtifactError


def _import(r: redis.Redis, keys: Keys, rows: list[dict[str, str]]) -> None:
    History(r, keys).add_many([PastTicket(source="zendesk", source_id=row["Id"],
                                          text=row["Description"], topic=row["Category"])
                               for row in rows])


async def _train(r: redis.Redis, keys: Keys, data_dir: Path, run_jobs: Any,
                 **params: Any) -> dict:
    job_id = enqueue(r, keys, "train", {"task": "topic", "source": "history", **params},
                     "admin:test", data_dir)
    await run_jobs()
    view = job_view(r, keys, job_id, logs=True)
    assert view["status"] == "finished", view
    return view


@pytest.mark.slow
def test_cancelled_job_in_a_real_job_worker_changes_nothing(
        wait_for: Any, r: redis.Redis, keys: Keys, data_dir: Path, redis_url: str, tmp_path: Path,
        past_tickets: Any) -> None:
    # Enough rows that training is still running when the cancel arrives.
    _import(r, keys, past_tickets(per_topic=6000))
    queued = enqueue(r, keys, "train", {"task": "topic", "source": "history"}, "admin:test",
                     data_dir)
    assert cancel(r, keys, queued) == "canceled"    # still queued: never runs

    running = enqueue(r, keys, "train", {"task": "topic", "source": "history"}, "admin:test",
                      data_dir)
    conf = tmp_path / "config.yaml"
    conf.write_text(f'redis_prefix: "{keys.p}"\n')
    worker = subprocess.Popen(
        [sys.executable, "-m", "deskgate.gateway.cli.main", "retraining-worker", "--data-dir", str(data_dir),
         "--config", str(conf)], env={**os.environ, "DESKGATE_REDIS_URL": redis_url},
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: job_view(r, keys, running)["progress"].get("stage") == "training", 90,
              "the job to start training")
        cancel(r, keys, running)
        view = wait_for(lambda: (v := job_view(r, keys, running, logs=True))["status"] in
                     ("stopped", "failed", "finished") and v, 60, "the job to stop")
        assert view["status"] == "stopped", view
        assert worker.poll() is None, "the job worker survives a stopped job"
        registry = ClassifierRegistry(r, keys)
        assert registry.list("topic") == []
        assert registry.current()["topic"] == "default"
        assert job_view(r, keys, queued)["status"] == "canceled"
        assert not any((data_dir / "models").glob("topic/topic-*"))
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(20)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()


async def test_worse_candidate_is_not_auto_promoted(r: redis.Redis, keys: Keys, data_dir: Path,
                                                    run_jobs: Any, past_tickets: Any,
                                                    to_zendesk_csv: Any) -> None:
    rows = past_tickets(per_topic=40)
    _import(r, keys, rows)
    good = await _train(r, keys, data_dir, run_jobs, auto_promote=True)
    assert good["result"]["promoted"] is True
    registry = ClassifierRegistry(r, keys)
    assert registry.current()["topic"] == good["result"]["version"]

    # The same tickets, but every training row mislabelled (the held-out rows stay right).
    topics = sorted({row["Category"] for row in rows})
    shifted = [{**row, "Category": row["Category"] if is_test(row["Description"]) else
                topics[(topics.index(row["Category"]) + 1) % len(topics)]} for row in rows]
    upload = data_dir / "uploads"
    upload.mkdir()
    (upload / "bad.csv").write_text(to_zendesk_csv(shifted))
    bad = await _train(r, keys, data_dir, run_jobs, source="upload", upload="bad.csv",
                       text_col="Description", label_col="Category", auto_promote=True)
    result = bad["result"]
    assert result["promoted"] is False
    assert result["policy"]["passes"] is False
    assert result["candidate"]["macro_f1"] < result["current"]["macro_f1"]
    assert any("not promoted" in line for line in bad["logs"])
    assert registry.current()["topic"] == good["result"]["version"]
    assert {v.state for v in registry.list("topic")} == {"current", "candidate"}


async def test_tampered_or_exposed_artifacts_are_refused(
        r: redis.Redis, keys: Keys, data_dir: Path, redis_url: str, run_jobs: Any,
        past_tickets: Any) -> None:
    _import(r, keys, past_tickets(per_topic=20))
    version = (await _train(r, keys, data_dir, run_jobs))["result"]["version"]
    registry = ClassifierRegistry(r, keys)
    record = registry.get("topic", version)
    assert record is not None
    classifier_store.load_version(data_dir, record)   # intact: loads

    folder = data_dir / "models" / record.path
    os.chmod(folder, 0o777)
    with pytest.raises(classifier_store.UntrustedPath, match="writable by group or others"):
        classifier_store.load_version(data_dir, record)
    os.chmod(folder, 0o755)

    weights = folder / "weights.npz"
    data = bytearray(weights.read_bytes())
    data[-100] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(ArtifactError, match="checksum mismatch"):
        classifier_store.load_version(data_dir, record)

    # A live worker told to run it refuses, says why, and keeps what it ran.
    watcher = await start(redis_url, keys, data_dir, "w-test", load_triager(), poll_seconds=60)
    try:
        before = watcher().version
        registry.promote("topic", version, "admin:test")
        assert await watcher.reconcile() is False
        assert watcher().version == before
        assert watcher.versions["topic"] == "default"
        assert "checksum mismatch" in registry.running()["w-test"]["error"]
    finally:
        await watcher.close()
