"""Import past tickets from another help desk's export (CSV or JSONL) as labelled training data.

    report = import_file(path, History(client, keys), preset="zendesk",
                         mapping={"topic": "Category"}, progress=True)

A column mapping says which column holds each field (id, subject, text, topic, priority,
sentiment); a preset gives the columns of a known export, and explicit mappings override it
(mapping any label stops the preset from guessing the other labels; see `resolve_columns`).
Each field may list several candidate columns ("Description|Comment"): the first one present in
the header is used. JSONL columns may be dotted paths into nested objects ("via.channel").

Row-level problems (no id, no text, no label, an unknown priority, a broken JSONL line) are
reported with their row number and the row is skipped; everything else is imported. A file
that cannot be read at all (unknown format, wrong encoding, required column missing) raises
ImportFileError before anything is stored. Rows are keyed "<source>:<ticket id>" and stored
with HSETNX, so importing the same export twice adds nothing the second time (the duplicates
are counted). Files are decoded as UTF-8 (with or without BOM), else GB18030, which is what
Excel in China saves.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import msgspec
from tqdm import tqdm

from deskgate.models.enums import Priority, Sentiment
from deskgate.models.learning import PastTicket
from deskgate.queue.history import History

FIELDS = ("id", "subject", "text", "topic", "priority", "sentiment")
LABELS = ("topic", "priority", "sentiment")
MAX_TEXT = 20_000
MAX_LABEL = 64
MAX_ROWS = 2_000_000
MAX_REPORTED_ERRORS = 1000
MAX_KEY_DEPTH = 8            # nested JSONL keys offered as columns (a.b.c)
BATCH = 1000

# The columns of each help desk's ticket CSV export. Topic usually lives in a custom field the
# admin named, so it stays overridable (--map topic=...).
PRESETS: dict[str, dict[str, str]] = {
    "plain": {"id": "id|ticket_id", "subject": "subject|title", "text": "text|body|description",
              "topic": "topic|category|label", "priority": "priority", "sentiment": "sentiment"},
    "zendesk": {"id": "Id|ID|Ticket ID", "subject": "Subject", "text": "Description|Comment",
                "topic": "Category|Topic|Ticket type|Type", "priority": "Priority",
                "sentiment": "Sentiment"},
    "zohodesk": {"id": "Ticket Id|Ticket ID|Request Id|Ticket Number", "subject": "Subject",
                 "text": "Description", "topic": "Category|Sub Category|Classification",
                 "priority": "Priority", "sentiment": "Sentiment"},
    "freshdesk": {"id": "Ticket ID|Ticket Id", "subject": "Subject", "text": "Description",
                  "topic": "Type|Category", "priority": "Priority", "sentiment": "Sentiment"},
}

# What help desks call their priorities, in English and Chinese.
PRIORITY_WORDS: dict[str, Priority] = {
    "p1": Priority.P1, "urgent": Priority.P1, "critical": Priority.P1, "紧急": Priority.P1,
    "p2": Priority.P2, "high": Priority.P2, "高": Priority.P2,
    "p3": Priority.P3, "normal": Priority.P3, "medium": Priority.P3, "中": Priority.P3,
    "普通": Priority.P3,
    "p4": Priority.P4, "low": Priority.P4, "低": Priority.P4,
}
SENTIMENT_WORDS: dict[str, Sentiment] = {
    "negative": Sentiment.NEGATIVE, "neg": Sentiment.NEGATIVE, "负面": Sentiment.NEGATIVE,
    "bad": Sentiment.NEGATIVE, "neutral": Sentiment.NEUTRAL, "中性": Sentiment.NEUTRAL,
    "positive": Sentiment.POSITIVE, "pos": Sentiment.POSITIVE, "正面": Sentiment.POSITIVE,
    "good": Sentiment.POSITIVE,
}
# Values that mean "not set" in exports.
UNSET = {"", "-", "-none-", "none", "null", "n/a", "无"}


class ImportFileError(ValueError):
    """The file cannot be imported at all; the message says why."""


class ImportCancelled(ImportFileError):
    """The admin declined the column summary; nothing was stored."""


class RowError(msgspec.Struct, frozen=True):
    row: int              # 1-based data row (CSV: not counting the header; JSONL: line)
    message: str


class ImportReport(msgspec.Struct, frozen=True, kw_only=True):
    source: str
    columns: dict[str, str]                  # field -> the column used
    rows: int = 0
    imported: int = 0
    duplicates: int = 0
    errors: int = 0
    error_rows: tuple[RowError, ...] = ()    # the first MAX_REPORTED_ERRORS
    label_counts: dict[str, dict[str, int]] = {}


def parse_mapping(spec: str) -> dict[str, str]:
    """"topic=Category,text=Body" -> {"topic": "Category", "text": "Body"}."""
    out: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        field, sep, column = part.partition("=")
        field = field.strip().lower()
        if not sep or field not in FIELDS or not column.strip():
            raise ImportFileError(f"bad mapping {part!r}: use FIELD=COLUMN with FIELD one of "
                                  f"{', '.join(FIELDS)}")
        out[field] = column.strip()
    return out


def _decode(path: Path) -> str:
    data = path.read_bytes()
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise ImportFileError(f"{path.name}: neither UTF-8 nor GB18030 text")


def _records(path: Path, text: str) -> tuple[list[str], Iterator[tuple[int, Any]]]:
    """(header, (row number, record or an error string)) for a CSV/TSV or JSONL file."""
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv"):
        csv.field_size_limit(10 * MAX_TEXT)
        reader = csv.DictReader(io.StringIO(text, newline=""),
                                delimiter="\t" if suffix == ".tsv" else ",")
        try:
            header = [h.strip() for h in reader.fieldnames or []]
        except csv.Error as exc:
            raise ImportFileError(f"{path.name}: malformed CSV header: {exc}") from exc
        if not header:
            raise ImportFileError(f"{path.name}: empty file")
        reader.fieldnames = header

        def rows() -> Iterator[tuple[int, Any]]:
            n = 0
            while True:
                n += 1
                try:
                    rec = next(reader)
                except StopIteration:
                    return
                except csv.Error as exc:
                    yield n, f"malformed CSV: {exc}"
                    continue
                yield n, (f"{len(rec[None])} more cells than the header has" if None in rec
                          else rec)
        return header, rows()
    if suffix in (".jsonl", ".ndjson"):
        lines = text.splitlines()
        header = sorted({k for line in lines[:50] if line.strip().startswith("{")
                         for k in _flat_keys(_json_record(line))})

        def records() -> Iterator[tuple[int, Any]]:
            for n, line in enumerate(lines, start=1):
                if line.strip():
                    yield n, _json_record(line)
        return header, records()
    raise ImportFileError(f"{path.name}: expected a .csv, .tsv or .jsonl file")


def _json_record(line: str) -> dict[str, Any] | str:
    """The line's object, or why it is a bad row. One hostile line nested thousands deep
    makes the parser raise RecursionError: that is that row's error, not the file's."""
    try:
        obj = json.loads(line)
    except json.JSONDecodeError:
        return "not valid JSON"
    except RecursionError:
        return "nested too deeply"
    return obj if isinstance(obj, dict) else "not a JSON object"


def _flat_keys(obj: Any, prefix: str = "", depth: int = 0) -> Iterator[str]:
    if isinstance(obj, dict) and depth < MAX_KEY_DEPTH:
        for k, v in obj.items():
            yield prefix + k
            yield from _flat_keys(v, prefix + k + ".", depth + 1)


def _get(record: Mapping[str, Any], column: str) -> str:
    value: Any = record.get(column)
    if value is None and "." in column:
        value = record
        for part in column.split("."):
            value = value.get(part) if isinstance(value, dict) else None
    if isinstance(value, list):
        value = ",".join(map(str, value))
    return "" if value is None else str(value).strip()


def resolve_columns(header: list[str], preset: str, mapping: Mapping[str, str],
                    name: str) -> dict[str, str]:
    """field -> the header column it reads; raises ImportFileError when text or every label
    is missing.

    What the admin mapped is taken as said: once any label (topic, priority, sentiment) is
    mapped, the other labels are not guessed from the preset, and no guessed field ever reads a
    column that another field already reads (`--map sentiment=label` must not also fill topic
    from "label")."""
    if preset not in PRESETS:
        raise ImportFileError(f"unknown preset {preset!r}; one of {', '.join(PRESETS)}")
    folded = {h.casefold(): h for h in header}
    columns: dict[str, str] = {}
    for field, spec in mapping.items():
        found = next((folded[c.strip().casefold()] for c in spec.split("|")
                      if c.strip().casefold() in folded), None)
        if found is None:
            raise ImportFileError(f"{name}: no column {spec!r} (for {field}); "
                                  f"columns: {', '.join(header)}")
        columns[field] = found
    labels_given = any(f in mapping for f in LABELS)
    for field in FIELDS:
        if field in columns or (labels_given and field in LABELS):
            continue
        taken = set(columns.values())
        for candidate in PRESETS[preset].get(field, "").split("|"):
            found = folded.get(candidate.strip().casefold())
            if found is not None and found not in taken:
                columns[field] = found
                break
    columns = {f: columns[f] for f in FIELDS if f in columns}
    if "text" not in columns and "subject" not in columns:
        raise ImportFileError(f"{name}: no text column (tried {PRESETS[preset]['text']!r}); map "
                              f"one with text=COLUMN; columns: {', '.join(header)}")
    if not any(f in columns for f in LABELS):
        raise ImportFileError(f"{name}: no label column (topic, priority or sentiment); map one "
                              f"with e.g. topic=COLUMN; columns: {', '.join(header)}")
    return columns


def describe_columns(columns: Mapping[str, str], header: list[str],
                     mapping: Mapping[str, str]) -> list[str]:
    """Lines telling the admin which column feeds which field (mapped or taken from the
    preset), which labels will stay empty, and which columns are ignored."""
    lines = [f"  {field:9s} <- {column!r} ({'--map' if field in mapping else 'preset'})"
             for field, column in columns.items()]
    unset = [f for f in LABELS if f not in columns]
    if unset:
        lines.append(f"  not imported: {', '.join(unset)} (add --map FIELD=COLUMN to import them)")
    unused = [h for h in header if h not in columns.values()]
    if unused:
        lines.append(f"  ignored columns: {', '.join(unused)}")
    return lines


def to_past_ticket(record: Mapping[str, Any], columns: Mapping[str, str],
                   source: str) -> PastTicket:
    """One record -> PastTicket; raises ValueError with the reason for a bad row."""
    got = {f: _get(record, c) for f, c in columns.items()}
    text, subject = got.get("text", "")[:MAX_TEXT], got.get("subject", "")[:1000]
    if not (text or subject):
        raise ValueError("no text")
    ticket_id = got.get("id", "")
    if "id" in columns and not ticket_id:
        raise ValueError(f"no ticket id in column {columns['id']!r}")
    if not ticket_id:   # no id column at all: the content is the identity
        ticket_id = "sha1:" + hashlib.sha1(f"{subject}\n{text}".encode()).hexdigest()
    labels = {f: "" if got.get(f, "").casefold() in UNSET else got[f] for f in LABELS
              if f in got}
    if labels.get("priority"):
        p = PRIORITY_WORDS.get(labels["priority"].casefold())
        if p is None:
            raise ValueError(f"priority {labels['priority']!r} is not one of "
                             f"{', '.join(sorted(PRIORITY_WORDS))}")
        labels["priority"] = p.value
    if labels.get("sentiment"):
        s = SENTIMENT_WORDS.get(labels["sentiment"].casefold())
        if s is None:
            raise ValueError(f"sentiment {labels['sentiment']!r} is not one of "
                             f"{', '.join(sorted(SENTIMENT_WORDS))}")
        labels["sentiment"] = s.value
    if len(labels.get("topic", "")) > MAX_LABEL:
        raise ValueError(f"topic longer than {MAX_LABEL} characters")
    if not any(labels.values()):
        raise ValueError("no label (topic, priority or sentiment)")
    return PastTicket(source=source, source_id=ticket_id[:200], text=text, subject=subject,
                      **labels)


def import_file(path: Path, history: History, *, preset: str = "plain",
                mapping: Mapping[str, str] | None = None, source: str = "",
                progress: bool = False,
                checkpoint: Callable[[int], None] | None = None,
                confirm: Callable[[dict[str, str], list[str]], bool] | None = None,
                ) -> ImportReport:
    """Import one export; see the module docstring. `checkpoint(rows_read)` is called after each
    stored batch (jobs report progress and honour cancellation there). `confirm(columns,
    header)` is called once the columns are known and before anything is stored; if it returns
    False, ImportCancelled is raised and nothing is stored."""
    path = Path(path)
    source = source or preset
    if not source.replace("-", "").replace("_", "").isalnum() or len(source) > 32:
        raise ImportFileError("source must be 1-32 letters, digits, '-' or '_'")
    try:
        text = _decode(path)
    except OSError as exc:
        raise ImportFileError(f"cannot read {path}: {exc.strerror}") from exc
    header, records = _records(path, text)
    columns = resolve_columns(header, preset, mapping or {}, path.name)
    if confirm is not None and not confirm(columns, header):
        raise ImportCancelled(f"{path.name}: import cancelled; nothing was stored")
    total = text.count("\n")
    del text
    counts = {t: Counter() for t in LABELS}
    errors: list[RowError] = []
    n_errors = rows = imported = duplicates = 0
    batch: list[PastTicket] = []
    seen_in_file: set[str] = set()

    def flush() -> None:
        nonlocal imported, duplicates
        for row, new in zip(batch, history.add_many(batch), strict=True):
            if new:
                imported += 1
                for t in LABELS:
                    if row.label(t):
                        counts[t][row.label(t)] += 1
            else:
                duplicates += 1
        batch.clear()
        if checkpoint is not None:
            checkpoint(rows)

    with tqdm(total=total, disable=not progress, unit="row", desc=f"importing {path.name}") as bar:
        for n, record in records:
            rows += 1
            bar.update(1)
            if rows > MAX_ROWS:
                raise ImportFileError(f"{path.name}: more than {MAX_ROWS} rows; split the file")
            try:
                if isinstance(record, str):
                    raise ValueError(record)
                ticket = to_past_ticket(record, columns, source)
            except (ValueError, RecursionError) as exc:   # a mapped value too deep to print
                n_errors += 1
                if len(errors) < MAX_REPORTED_ERRORS:
                    errors.append(RowError(n, "nested too deeply"
                                           if isinstance(exc, RecursionError) else str(exc)))
                continue
            if ticket.key in seen_in_file:
                duplicates += 1
                continue
            seen_in_file.add(ticket.key)
            batch.append(ticket)
            if len(batch) >= BATCH:
                flush()
        flush()
    return ImportReport(source=source, columns=columns, rows=rows, imported=imported,
                        duplicates=duplicates, errors=n_errors, error_rows=tuple(errors),
                        label_counts={t: dict(sorted(c.items())) for t, c in counts.items() if c})
