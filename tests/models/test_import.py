"""Importing exports as an admin does from the command line: a plain CSV with a column mapping,
a Chinese export saved as GB18030, JSONL with nested fields and a broken line, re-imports that
add nothing, and files that cannot be imported at all."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import redis

from deskgate.gateway.cli import main
from deskgate.gateway.importer import ImportFileError, import_file
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
    code, out, _ = cli("models", "import", str(f), "--map",
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

    code, out, _ = cli("models", "import", str(f), "--map",
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
    code, _, err = cli("models", "import", str(xlsx))
    assert code == 2 and "expected a .csv, .tsv or .jsonl" in err

    no_text = tmp_path / "no_text.csv"
    no_text.write_text("Id,Status,Category\n1,solved,billing\n")
    code, _, err = cli("models", "import", str(no_text), "--preset", "zendesk")
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
