"""`deskgate articles import` against the test run's Redis: a folder of Markdown files with front
matter, and a CSV export; a re-run replaces the same articles; bad files and rows are reported
by name and skipped (exit status 1); --help describes both formats."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import msgspec
import redis

from deskgate.gateway.cli.main import main
from deskgate.models.article import Article
from deskgate.queue.keys import Keys


def _articles(r: redis.Redis, keys: Keys) -> dict[str, Article]:
    return {k.decode(): msgspec.json.decode(v, type=Article)
            for k, v in r.hgetall(keys.articles).items()}


def _conf(tmp_path: Path, prefix: str) -> str:
    conf = tmp_path / "c.yaml"
    conf.write_text(f'redis_prefix: "{prefix}"\n')
    return str(conf)


def test_folder_import(redis_url: str, prefix: str, keys: Keys, r: redis.Redis, tmp_path: Path,
                       monkeypatch: Any, capsys: Any) -> None:
    monkeypatch.setenv("DESKGATE_REDIS_URL", redis_url)
    folder = tmp_path / "kb"
    (folder / "returns").mkdir(parents=True)
    (folder / "returns" / "Return-Policy.md").write_text(
        "---\ntitle: 如何退货\ntags: [退货, returns]\ntopic: returns\nlocale: zh\n"
        "status: published\naudience: public\n---\n# 退货\n收到商品七天内可以申请退货。\n", encoding="utf-8")
    (folder / "pin.md").write_text("Open Settings to change your PIN.\n", encoding="utf-8")
    (folder / "broken.md").write_text("---\ntitle: x\nlocale: fr\n---\nbody\n", encoding="utf-8")
    (folder / "notes.txt").write_text("not an article", encoding="utf-8")
    conf = _conf(tmp_path, prefix)
    assert main(["articles", "import", str(folder), "--config", conf]) == 1
    out = capsys.readouterr()
    assert "imported 2 article(s)" in out.out and "1 could not be imported" in out.out
    assert "broken.md" in out.err and "locale" in out.err and "importing articles: 3/3" in out.err
    got = _articles(r, keys)
    assert set(got) == {"return-policy", "pin"}
    ret = got["return-policy"]
    assert (ret.title, ret.tags, ret.topic, ret.locale, ret.status) == (
        "如何退货", ("退货", "returns"), "returns", "zh", "published")
    assert ret.body.startswith("# 退货") and got["pin"].title == "pin"
    assert got["pin"].status == "draft"
    # the audience comes from the front matter; without it an article stays internal
    assert ret.audience == "public" and got["pin"].audience == "agents"
    (folder / "broken.md").unlink()
    assert main(["articles", "import", str(folder), "--config", conf]) == 0
    assert set(_articles(r, keys)) == {"return-policy", "pin"}          # replaced, not added


def test_csv_import(redis_url: str, prefix: str, keys: Keys, r: redis.Redis, tmp_path: Path,
                    monkeypatch: Any, capsys: Any) -> None:
    monkeypatch.setenv("DESKGATE_REDIS_URL", redis_url)
    export = tmp_path / "export.csv"
    export.write_text(
        "id,title,body,labels,section,language,status,audience\n"
        'pin-en,Change your PIN,"Open **Settings**, then PIN.","cards, pin",cards,en-US,published,'
        'public\n'
        ',发货时间,"付款后48小时内发货",发货,shipping,zh-CN,published,\n'
        ",,no title,,,,,\n"
        "limits,Refund limits,Up to 500 without a manager,,,en,published,everyone\n",
        encoding="utf-8")
    conf = _conf(tmp_path, prefix)
    assert main(["articles", "import", str(export), "--config", conf]) == 1
    out = capsys.readouterr()
    assert "imported 2 article(s)" in out.out and "export.csv line 4" in out.err
    # an audience that is neither public nor agents is refused, not guessed
    assert "export.csv line 5" in out.err and "audience" in out.err
    got = _articles(r, keys)
    assert got["pin-en"].tags == ("cards", "pin") and got["pin-en"].locale == "en"
    [zh] = [a for k, a in got.items() if k != "pin-en"]
    assert zh.id.startswith("kb-") and zh.topic == "shipping" and zh.locale == "zh"
    assert got["pin-en"].audience == "public" and zh.audience == "agents"
    assert main(["articles", "import", str(export), "--config", conf]) == 1
    assert len(_articles(r, keys)) == 2
    assert main(["articles", "import", str(tmp_path / "missing"), "--config", conf]) == 2


def test_help_describes_both_formats() -> None:
    out = subprocess.run([sys.executable, "-m", "deskgate.gateway.cli.main", "articles",
                          "import", "--help"], capture_output=True, text=True, check=False)
    assert out.returncode == 0 and "front matter" in out.stdout and "CSV" in out.stdout
    assert "audience" in out.stdout
