"""`deskgate articles import <folder|file.csv>`: load knowledge-base articles from Markdown files
or a CSV export. Importing the same source again replaces the same articles (ids come from the
file names or the CSV's id column, else from the title), so a re-run is safe."""

from __future__ import annotations

import argparse
import asyncio
import csv
import hashlib
import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import msgspec

from deskgate.gateway.cli.common import add_common, config, data_dir
from deskgate.gateway.knowledge import analysed
from deskgate.models.article import ARTICLE_ID, MAX_BODY, ArticleIn, article
from deskgate.queue import connection
from deskgate.queue.articles import ArticleStore
from deskgate.queue.redis_server import redis_url_for

MAX_FILE_BYTES = 4 * MAX_BODY + 4096       # UTF-8 of the longest body, and its front matter
_FRONT = re.compile(r"\A---[ \t]*\r?\n(.*?)\r?\n---[ \t]*(?:\r?\n|\Z)", re.S)
_KEYS = ("title", "tags", "topic", "locale", "status", "audience", "id")
ALIASES = {"labels": "tags", "label_names": "tags", "section": "topic", "category": "topic",
           "language": "locale", "content": "body", "name": "title", "state": "status"}


class ImportProblem(Exception):
    pass


def _tags(value: str) -> tuple[str, ...]:
    return tuple(t.strip().strip("'\"") for t in value.strip().strip("[]").split(",")
                 if t.strip().strip("'\""))


def _fields(raw: dict[str, str]) -> dict[str, object]:
    out: dict[str, object] = {}
    for key, value in raw.items():
        name = ALIASES.get(key.strip().lower(), key.strip().lower())
        if name in ("title", "body", "topic", "locale", "status", "audience") and value.strip():
            out[name] = value.strip() if name != "body" else value
        elif name == "tags":
            out["tags"] = _tags(value)
    if out.get("locale") in ("zh-cn", "zh-CN", "zh_CN", "zh-hans"):
        out["locale"] = "zh"
    if str(out.get("locale", "")).lower().startswith("en"):
        out["locale"] = "en"
    return out


def parse_markdown(text: str) -> tuple[dict[str, str], str]:
    """(front matter, body) of a Markdown file: `key: value` lines between two `---` lines."""
    m = _FRONT.match(text)
    if not m:
        return {}, text
    meta = {}
    for n, line in enumerate(m.group(1).splitlines(), 2):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, sep, value = line.partition(":")
        if not sep or key.strip().lower() not in _KEYS:
            raise ImportProblem(f"front matter line {n}: use `key: value` with a key of "
                                f"{', '.join(_KEYS)}")
        meta[key.strip().lower()] = value.strip().strip("'\"") if key.strip() != "tags" \
            else value.strip()
    return meta, text[m.end():]


def slug(text: str) -> str:
    """An article id from a file name or title: lower-case ASCII letters, digits and -, else a
    hash of the text (Chinese titles)."""
    s = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:80]
    return s if s and ARTICLE_ID.match(s) else "kb-" + hashlib.sha1(text.encode()).hexdigest()[:12]


def _checked(article_id: str, fields: dict[str, object]) -> tuple[str, ArticleIn]:
    if not ARTICLE_ID.match(article_id):
        raise ImportProblem(f"id {article_id!r}: use 1-80 lower-case letters, digits, _ or -")
    try:
        return article_id, msgspec.convert(fields, ArticleIn)
    except msgspec.ValidationError as exc:
        raise ImportProblem(str(exc)) from None


def from_folder(folder: Path) -> Iterator[tuple[str, tuple[str, ArticleIn] | ImportProblem]]:
    for path in sorted(folder.rglob("*.md")):
        where = str(path.relative_to(folder))
        try:
            if path.stat().st_size > MAX_FILE_BYTES:
                raise ImportProblem(f"larger than {MAX_FILE_BYTES} bytes")
            meta, body = parse_markdown(path.read_text(encoding="utf-8-sig"))
            fields = _fields({**meta, "body": body})
            fields.setdefault("title", path.stem)
            yield where, _checked(meta.get("id") or slug(path.stem), fields)
        except (ImportProblem, UnicodeDecodeError, OSError) as exc:
            yield where, ImportProblem(str(exc))


def from_csv(path: Path) -> Iterator[tuple[str, tuple[str, ArticleIn] | ImportProblem]]:
    csv.field_size_limit(MAX_FILE_BYTES)
    with path.open(encoding="utf-8-sig", newline="") as fh:
        try:
            for n, row in enumerate(csv.DictReader(fh), 2):
                where = f"{path.name} line {n}"
                try:
                    fields = _fields({k: v or "" for k, v in row.items() if k})
                    given_id = (row.get("id") or "").strip()
                    yield where, _checked(given_id or slug(str(fields.get("title", ""))), fields)
                except ImportProblem as exc:
                    yield where, exc
        except csv.Error as exc:
            yield f"{path.name}", ImportProblem(f"not a readable CSV file: {exc}")


async def _import(url: str, args: argparse.Namespace) -> int:
    source: Path = args.source
    items = list(from_csv(source) if source.is_file() else from_folder(source))
    if not items:
        print(f"deskgate: nothing to import from {source} (Markdown files *.md in a folder, "
              "or a .csv file with a title column)", file=sys.stderr)
        return 2
    cfg = config(args)
    client = connection.async_client(url)
    store = ArticleStore(client, cfg.keys())
    done, failed = 0, 0
    try:
        for n, (where, got) in enumerate(items, 1):
            if isinstance(got, ImportProblem):
                failed += 1
                print(f"\n{where}: {got}", file=sys.stderr)
            else:
                article_id, given = got
                a = article(article_id, given, at=time.time(), by="import")
                if await store.put(a, analysed(a)):
                    done += 1
                else:
                    failed += 1
                    print(f"\n{where}: the knowledge base is full", file=sys.stderr)
            if n % 50 == 0 or n == len(items):
                print(f"\rimporting articles: {n}/{len(items)}", end="", file=sys.stderr,
                      flush=True)
    finally:
        await client.aclose()
    print(file=sys.stderr)
    print(f"imported {done} article(s) from {source}"
          + (f"; {failed} could not be imported (see above)" if failed else ""))
    return 1 if failed else 0


def cmd_import(args: argparse.Namespace) -> int:
    if not args.source.exists():
        print(f"deskgate: {args.source} does not exist", file=sys.stderr)
        return 2
    cfg = config(args)
    with redis_url_for(data_dir(args), cfg.redis_url) as url:
        return asyncio.run(_import(url, args))


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("articles", help="knowledge-base articles",
                       description="Knowledge-base articles (also: /api/v1/articles and the "
                                   "console's Articles page).")
    s = p.add_subparsers(dest="articles_command", metavar="COMMAND", required=True)
    imp = s.add_parser(
        "import", help="import articles from a folder of Markdown files or a CSV file",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="""Import (create or replace) articles.

A folder: every *.md file below it is one article; the file name gives its id unless the
front matter names one. An optional front matter block sets the fields:

    ---
    title: 如何申请退货
    tags: returns, 退货
    topic: returns
    locale: zh            (zh or en; default zh)
    status: published     (draft or published; default draft)
    audience: public      (public: the web-chat FAQ shows it to anyone; agents: internal;
                           default agents, so nothing is made public unless it says so)
    ---
    Markdown body ...

A CSV file (UTF-8, a header row): columns title (required), body, tags (comma-separated),
topic, locale, status, audience (public or agents; default agents), id; Zendesk/Zoho-style
names labels, section, language and content are read too. Without an id column the id comes
from the title, so importing the same file again replaces the same articles. Rows or files that do not validate are reported and skipped; the
exit status is 1 when any was skipped.""")
    imp.add_argument("source", type=Path, help="a folder of .md files, or a .csv file")
    add_common(imp)
    imp.set_defaults(func=cmd_import)
