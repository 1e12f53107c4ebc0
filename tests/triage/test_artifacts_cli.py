"""Artifacts: round trip, checksum and featurizer refusal; the eval CLI as a subprocess."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from deskgate.triage import artifacts
from deskgate.triage.pipeline import Pipelines
from deskgate.triage.training import featurize, train

TEXTS = ["我的订单还没发货", "where is my order", "退款还没到账", "I want a refund",
         "快递丢了", "my parcel is lost", "订单状态不对", "order still processing",
         "要求退款", "refund please", "物流不更新", "tracking not updating"]
LABELS = ["order", "order", "refund", "refund", "ship", "ship", "order", "order",
          "refund", "refund", "ship", "ship"]


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory, pipelines: Pipelines) -> tuple[Path, object]:
    model = train("topic", TEXTS, LABELS, pipelines=pipelines, data_source="test")
    d = tmp_path_factory.mktemp("art") / "topic"
    artifacts.save(model, d, created="2026-01-01T00:00:00Z")
    return d, model


def test_roundtrip_gives_identical_predictions(saved, pipelines: Pipelines) -> None:
    d, model = saved
    loaded = artifacts.load(d, task="topic")
    X = featurize(TEXTS, pipelines)
    assert np.allclose(loaded.predict_proba(loaded.transform(X)), model.predict_proba(model.transform(X)))
    man = artifacts.read_manifest(d)
    assert man.data["fingerprint"] and man.data["rows"] == len(TEXTS) and man.versions["scikit-learn"]
    assert man.version.startswith("topic-20260101T000000-")


def test_same_data_same_bytes(saved, pipelines: Pipelines, tmp_path: Path) -> None:
    d, _ = saved
    again = train("topic", TEXTS, LABELS, pipelines=pipelines, data_source="test")
    man = artifacts.save(again, tmp_path / "again", created="2026-01-01T00:00:00Z")
    assert man.sha256 == artifacts.read_manifest(d).sha256


def test_tampered_weights_are_refused(saved, tmp_path: Path) -> None:
    d, _ = saved
    bad = tmp_path / "topic"
    bad.mkdir()
    for f in (artifacts.MANIFEST, artifacts.WEIGHTS):
        (bad / f).write_bytes((d / f).read_bytes())
    data = bytearray((bad / artifacts.WEIGHTS).read_bytes())
    data[-10] ^= 0xFF
    (bad / artifacts.WEIGHTS).write_bytes(bytes(data))
    with pytest.raises(artifacts.ArtifactError, match="checksum mismatch"):
        artifacts.load(bad)


def test_wrong_task_and_featurizer_are_refused(saved, tmp_path: Path) -> None:
    d, _ = saved
    with pytest.raises(artifacts.ArtifactError, match="expected"):
        artifacts.load(d, task="sentiment")
    other = tmp_path / "topic"
    other.mkdir()
    (other / artifacts.WEIGHTS).write_bytes((d / artifacts.WEIGHTS).read_bytes())
    man = json.loads((d / artifacts.MANIFEST).read_text())
    man["featurizer"] = "something-else"
    (other / artifacts.MANIFEST).write_text(json.dumps(man))
    with pytest.raises(artifacts.ArtifactError, match="featurizer"):
        artifacts.load(other)
    with pytest.raises(artifacts.ArtifactError, match="no manifest.json"):
        artifacts.load(tmp_path / "missing")


def _csv(path: Path, rows: list[tuple[str, str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["message", "y"])
        w.writerows(rows)
    return path


def _deskgate(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "deskgate.gateway.cli.main", *args],
                          capture_output=True, text=True, timeout=120, check=False)


def test_eval_cli_json(tmp_path: Path) -> None:
    train_csv = _csv(tmp_path / "train.csv", list(zip(TEXTS, LABELS, strict=True)))
    test_jsonl = tmp_path / "test.jsonl"
    test_jsonl.write_text("".join(json.dumps({"message": t, "y": y}, ensure_ascii=False) + "\n"
                                  for t, y in zip(TEXTS[:6], LABELS[:6], strict=True)), encoding="utf-8")
    proc = _deskgate("triage", "eval", "--train", str(train_csv), "--test", str(test_jsonl),
                     "--text-col", "message", "--label-col", "y", "--json", "--baseline")
    assert proc.returncode == 0, proc.stderr
    rep = json.loads(proc.stdout)
    for key in ("accuracy", "macro_f1", "per_class", "train_seconds", "msgs_per_second", "confusion"):
        assert key in rep
    assert set(rep["per_class"]) == {"order", "refund", "ship"}
    assert rep["test_rows"] == 6 and 0.0 <= rep["accuracy"] <= 1.0
    assert rep["baseline"]["model"].startswith("baseline")
    d = rep["vs_baseline"]
    assert \
        abs(d["macro_f1_delta"] - (rep["macro_f1"] - rep["baseline"]["macro_f1"])) < 1e-3
    assert d["macro_f1_delta_ci95"][0] <= d["macro_f1_delta"] <= d["macro_f1_delta_ci95"][1]

    bad = _deskgate("triage", "eval", "--test", str(train_csv), "--label-col", "nope")
    assert bad.returncode == 2 and "no column" in bad.stderr


def test_eval_cli_current_model_text_report(tmp_path: Path) -> None:
    test_csv = _csv(tmp_path / "t.csv", [("我的订单什么时候发货", "order_status"),
                                          ("I was charged twice", "billing")])
    proc = _deskgate("triage", "eval", "--test", str(test_csv), "--text-col", "message", "--label-col", "y")
    assert proc.returncode == 0, proc.stderr
    assert "macro-F1" in proc.stdout and "confusion" in proc.stdout


def test_packaged_defaults_reproduce_byte_for_byte(tmp_path: Path) -> None:
    from deskgate.triage import train_defaults
    from deskgate.triage.engine import ALL_TASKS, DEFAULT_MODEL_DIR

    train_defaults.main(["--out", str(tmp_path)])
    for task in ALL_TASKS:
        shipped = artifacts.read_manifest(DEFAULT_MODEL_DIR / task)
        rebuilt = artifacts.read_manifest(tmp_path / task)
        assert rebuilt.sha256 == shipped.sha256 and rebuilt.version == shipped.version, task
        assert rebuilt.data["fingerprint"] == shipped.data["fingerprint"]
