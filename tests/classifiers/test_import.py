"""Importing exports as an admin does from the command line: a plain CSV with a column mapping,
a Chinese export saved as GB18030, JSONL with nested fields and a broken line, re-imports that
add nothing, and files that cannot be imported at all."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import redis

from deskgate.gateway.cli.main import main
from deskgate.gateway.retraining.importer import ImportFileError, import_file
from deskgate.queue.history import History
from deskgate.queue.keys import Keys


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, redis_url: str, keys: Keys, tmp_path: Path,
        data_dir: Path, capsys: pytest.CaptureFixture[str]) -> Any:
    monkeypatch.setenv("DESKGATE_REDIS_URL", redis_url)
    conf = tmp_path / "config.yaml"
    conf.write_text(f'redis_prefix: "{keys.p}"\n')

    def run(*args: str) -> tuple[int, str, str]:
        code = main([*args, "--data-dir", str(data_dir), "--config", str(conf)])
        out = capsys.readouterr()
        return code, out.out, out.err
    return run


def test_plain_csv_with_mapping_then_reimport(cli: Any, r: redis.Redis, keys: Keys,
                                              tmp_path: Path) -> None:
    f = tmp_path / "tickets.csv"
    f.write_text("ticket,body,queue,urgency\n"
                 "1,我的快递三天没动了,shipping,紧急\n"
                 "2,Refund please,returns_refunds,low\n"
                 "3,,billing,high\n"
                 "2,Refund please (again),returns_refunds,low\n", encoding="utf-8")
    code, out, _ = cli("classifiers", "import", str(f), "--map",
                       "id=ticket,text=body,topic=queue,priority=urgency", "--source", "legacy",
                       "--json")
    assert code == 0
    report = json.loads(out)
    assert (report["rows"], report["imported"], report["duplicates"], report["errors"]) == \
        (4, 2, 1, 1)
    assert report["error_rows"] == [{"row": 3, "message": "no text"}]
    assert report["label_counts"]["priority"] == {"P1": 1, "P4": 1}
    stored = {t.key: t for t in History(r, keys).imported()}
    assert stored["legacy:1"].priority == "P1" and stored["legacy:1"].topic == "shipping"

    code, out, _ = cli("classifiers", "import", str(f), "--map",
                       "id=ticket,text=body,topic=queue,priority=urgency", "--source", "legacy")
    assert code == 0
    assert "0 imported, 3 already there" in out
    assert History(r, keys).count() == 2


def test_gb18030_and_jsonl_exports(r: redis.Redis, keys: Keys, tmp_path: Path) -> None:
    history = History(r, keys)
    gbk = tmp_path / "zoho.csv"
    gbk.write_bytes("Ticket Id,Subject,Description,Category,Priority\n"
                    "Z1,发票问题,发票抬头开错了,billing,High\n".encode("gb18030"))
    report = import_file(gbk, history, preset="zohodesk")
    assert report.imported == 1
    assert next(history.imported()).text == "发票抬头开错了"

    jl = tmp_path / "fd.jsonl"
    jl.write_text(json.dumps({"id": 7, "description": "Screen broke", "custom": {"cat": "warranty"}})
                  + "\n{not json\n" + json.dumps([1, 2]) + "\n", encoding="utf-8")
    report = import_file(jl, history, preset="plain",
                         mapping={"text": "description", "topic": "custom.cat"}, source="fd")
    assert (report.imported, report.errors) == (1, 2)
    assert [e.message for e in report.error_rows] == ["not valid JSON", "not a JSON object"]


def test_files_that_cannot_be_imported(cli: Any, tmp_path: Path) -> None:
    xlsx = tmp_path / "export.xlsx"
    xlsx.write_bytes(b"PK\x03\x04")
    code, _, err = cli("classifiers", "import", str(xlsx))
    assert code == 2 and "expected a .csv, .tsv or .jsonl" in err

    no_text = tmp_path / "no_text.csv"
    no_text.write_text("Id,Status,Category\n1,solved,billing\n")
    code, _, err = cli("classifiers", "import", str(no_text), "--preset", "zendesk")
    assert code == 2 and "no text column" in err and "Id, Status, Category" in err

    with pytest.raises(ImportFileError, match="no column 'Kategorie'"):
        import_file(no_text, History.__new__(History), mapping={"topic": "Kategorie"})


def test_a_deeply_nested_jsonl_line_is_one_bad_row_and_the_rest_is_imported(
        r: redis.Redis, keys: Keys, tmp_path: Path) -> None:
    deep = '{"text": "x", "topic": ' + "[" * 100_000 + "]" * 100_000 + "}"
    deep_value = json.dumps({"text": "y", "topic": "billing"})[:-1] + ', "d": ' + \
        '{"a": ' * 900 + "1" + "}" * 900 + "}"
    jl = tmp_path / "nested.jsonl"
    jl.write_text("\n".join([json.dumps({"text": "Screen broke", "topic": "warranty"}), deep,
                             json.dumps({"text": "发票开错了", "topic": "billing"}), deep_value]),
                  encoding="utf-8")
    report = import_file(jl, History(r, keys), preset="plain",
                         mapping={"text": "text", "topic": "topic"}, source="deep")
    assert report.imported == 3
    assert [(e.row, e.message) for e in report.error_rows] == [(2, "nested too deeply")]
def _labelled_reviews(tmp_path: Path) -> Path:
    f = tmp_path / "reviews.csv"
    f.write_text("text,label,cat\n"
                 "快递很快，包装很好,positive,水果\n"
                 "Screen cracked on arrival,negative,phone\n"
                 "衣服质量太差,negative,衣服\n", encoding="utf-8")
    return f


def test_mapping_one_label_never_guesses_the_others(cli: Any, r: redis.Redis, keys: Keys,
                                                    tmp_path: Path) -> None:
    # The "plain" preset reads topic from a column named "label"; the admin said that column is
    # the sentiment, so topic must stay empty (it used to learn "negative" as a topic).
    code, out, _ = cli("classifiers", "import", str(_labelled_reviews(tmp_path)), "--map",
                       "sentiment=label", "--source", "reviews")
    assert code == 0
    assert "sentiment <- 'label' (--map)" in out and "text      <- 'text' (preset)" in out
    assert "not imported: topic, priority" in out and "ignored columns: label" not in out
    assert "ignored columns: cat" in out
    # The summary comes before the import's own report.
    assert out.index("not imported") < out.index("3 rows: 3 imported")
    stored = list(History(r, keys).imported())
    assert len(stored) == 3
    assert {t.topic for t in stored} == {""} and {t.sentiment for t in stored} == {"negative",
                                                                                   "positive"}


def test_guessed_fields_never_reuse_a_mapped_column(r: redis.Redis, keys: Keys,
                                                   tmp_path: Path) -> None:
    f = tmp_path / "t.csv"
    f.write_text("id,text,topic,priority,sentiment\n1,where is my parcel,shipping,high,neutral\n",
                 encoding="utf-8")
    report = import_file(f, History(r, keys), mapping={"text": "topic"}, source="x")
    # text was mapped to the column "topic": the preset's topic guess must not read it too,
    # and the other labels (not mapped, no label mapped) are still found by the preset.
    assert report.columns == {"id": "id", "text": "topic", "priority": "priority",
                              "sentiment": "sentiment"}
    report = import_file(f, History(r, keys), mapping={"priority": "priority"}, source="y")
    assert set(report.columns) == {"id", "text", "priority"}
    assert report.label_counts == {"priority": {"P2": 1}}


def _on_terminal(args: list[str], answer: str | None, env: dict[str, str],
                 before_answer: Any) -> tuple[int, str]:
    """Run the CLI with a pseudo-terminal as stdin/stdout/stderr; when it asks, call
    `before_answer()` and type `answer`."""
    import os
    import pty
    import select
    import subprocess
    import sys

    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "deskgate.gateway.cli.main", *args],
                            stdin=slave, stdout=slave, stderr=slave, env=env, close_fds=True)
    os.close(slave)
    out = b""
    asked = False
    while True:
        ready, _, _ = select.select([master], [], [], 60)
        if not ready:
            proc.kill()
            raise AssertionError(f"no output for 60 s: {out!r}")
        try:
            chunk = os.read(master, 4096)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        out += chunk
        if not asked and b"[y/N]" in out:
            asked = True
            before_answer()
            assert answer is not None, "asked to confirm although it should not have"
            os.write(master, answer.encode() + b"\n")
    code = proc.wait(timeout=60)
    os.close(master)
    return code, out.decode("utf-8", "replace")


def test_on_a_terminal_the_summary_is_confirmed_before_anything_is_stored(
        redis_url: str, r: redis.Redis, keys: Keys, tmp_path: Path, data_dir: Path) -> None:
    import os

    conf = tmp_path / "config.yaml"
    conf.write_text(f'redis_prefix: "{keys.p}"\n')
    env = {**os.environ, "DESKGATE_REDIS_URL": redis_url}
    args = ["classifiers", "import", str(_labelled_reviews(tmp_path)), "--map", "sentiment=label",
            "--source", "tty", "--data-dir", str(data_dir), "--config", str(conf)]
    history = History(r, keys)
    seen: list[int] = []

    code, out = _on_terminal(args, "n", env, lambda: seen.append(history.count()))
    assert seen == [0], "something was stored before the admin confirmed"
    assert code == 1 and "sentiment <- 'label'" in out and "nothing was stored" in out
    assert history.count() == 0

    code, out = _on_terminal(args, "y", env, lambda: seen.append(history.count()))
    assert code == 0 and seen == [0, 0] and "3 imported" in out
    assert history.count() == 3

    code, out = _on_terminal([*args, "--yes"], None, env, lambda: None)
    assert code == 0 and "not imported: topic, priority" in out and "3 already there" in out
