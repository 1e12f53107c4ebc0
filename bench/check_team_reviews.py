"""Check that the team-written Chinese reviews (triage/data/sentiment_reviews_zh.csv) stay
independent of the review sets we evaluate the packaged sentiment model on:

    .venv/bin/python bench/check_team_reviews.py [--datasets ../shared/datasets] [FILE ...]

A line fails when, after removing whitespace, it equals a ChnSentiCorp or online_shopping
review, contains one of 8+ characters, or is itself (8+ characters) contained in one; the same
line twice in the file fails too. Exit status 1 names every failing line.
"""

from __future__ import annotations

import argparse
import csv
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MIN_OVERLAP = 8


def norm(text: str) -> str:
    return re.sub(r"\s+", "", text.replace("\ufeff", ""))


def reviews(datasets: Path) -> list[str]:
    out = []
    for name in ("ChnSentiCorp_htl_all.csv", "online_shopping_10_cats.csv"):
        with (datasets / "zh" / name).open(encoding="utf-8-sig", newline="") as fh:
            out += [norm(r["review"] or "") for r in csv.DictReader(fh)]
    return [r for r in out if r]


def failures(lines: list[str], evaluation: list[str]) -> list[tuple[str, str]]:
    exact = set(evaluation)
    joined = "\n".join(evaluation)
    # "line contains a review": index the reviews of 8+ characters by their first 8
    by_head: dict[str, list[str]] = {}
    for r in exact:
        if len(r) >= MIN_OVERLAP:
            by_head.setdefault(r[:MIN_OVERLAP], []).append(r)
    bad, seen = [], set()
    for line in lines:
        n = norm(line)
        if n in seen:
            bad.append((line, "duplicate line"))
        seen.add(n)
        if n in exact:
            bad.append((line, "equals a review"))
        elif len(n) >= MIN_OVERLAP and n in joined:
            bad.append((line, "is contained in a review"))
        else:
            hit = next((r for i in range(len(n) - MIN_OVERLAP + 1)
                        for r in by_head.get(n[i:i + MIN_OVERLAP], ()) if n.startswith(r, i)), None)
            if hit is not None:
                bad.append((line, f"contains the review “{hit}”"))
    return bad


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datasets", type=Path, default=ROOT.parent / "shared" / "datasets")
    ap.add_argument("files", nargs="*", type=Path,
                    default=[ROOT / "triage" / "data" / "sentiment_reviews_zh.csv"])
    args = ap.parse_args()
    evaluation = reviews(args.datasets)
    status = 0
    for path in args.files:
        with path.open(encoding="utf-8", newline="") as fh:
            lines = [r["text"] for r in csv.DictReader(fh)]
        bad = failures(lines, evaluation)
        print(f"{path}: {len(lines)} lines, {len(bad)} failing (checked against {len(evaluation)} reviews)")
        for line, why in bad:
            print(f"  {why}: {line}")
        status |= bool(bad)
    return status


if __name__ == "__main__":
    sys.exit(main())
