"""The `make bench` summary: reads the JSON reports the benches wrote (--json-out) into one
folder and prints one table: issue 17's throughput targets first, then every other figure
that has a target, each with its median, range, target and met/MISSED, and the commit and load
average of the bench that measured it. A bench whose report is missing (it failed, or was not
run) is listed as such, and the exit status is then 1.

Run: .venv/bin/python bench/summary.py .bench-results
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from harness import Target, fmt

# (bench, figure key, what the issue calls it, target): the issue's list, in its order
ISSUE_17 = [
    ("ingest", "accepted_per_s", "accepted msgs/s, API, worker running", ">= 4000"),
    ("ingest", "e2e_per_s", "end-to-end msgs/s", ">= 1500"),
    ("ingest", "e2e_p99_s_at_rate", "e2e p99 s at 1,000 msgs/s offered", "< 1"),
    ("ingest", "offered_per_s", "  offered msgs/s achieved (wrk open-loop)", ""),
    ("ingest", "rejected", "  requests answered non-2xx (503: retry)", "<= 0"),
    ("ingest", "cpu_ms_per_msg tree", "whole-tree CPU ms per short message", "<= 0.6"),
    ("mail", "smtp_1_conn cpu_ms_per_msg tree to routed",
     "whole-tree CPU ms per realistic email", "<= 2"),
    ("ingest", "pss_mb tree", "serve tree peak PSS MB under load", "< 400"),
    ("ingest", "rss_mb tree", "  the same as RSS (shared pages counted twice)", ""),
    ("mail", "smtp_4_conn accepted_per_s", "SMTP over 4 connections msgs/s", ">= 800"),
    ("claims", "sweep_all_due_s", "100,000 SLA clocks breaching, one sweep s", "< 2"),
    ("claims", "claims_per_s", "claims/s", ">= 2000"),
    ("claims", "claim_p99_ms", "claim p99 ms", "< 10"),
]
EXPECTED = ["ingest", "scale", "mail", "claims", "durability", "triage", "sender_auth",
            "webhooks"]


def target(text: str) -> Target | None:
    if not text:
        return None
    op, value = text.split()
    return Target(op, float(value))


def row(label: str, entry: dict | None, goal: Target | None, source: str) -> str:
    goal_text = str(goal) if goal is not None else ""
    if entry is None:
        return f"{label:<46} {'missing':>10} {'':>21}  {goal_text:<9} {'':<6}  {source}"
    med, lo, hi = (math.nan if entry[k] is None else entry[k] for k in ("median", "min", "max"))
    verdict = "" if goal is None else ("met" if goal.met(med) else "MISSED")
    return (f"{label:<46} {fmt(med):>10} {fmt(lo):>10}–{fmt(hi):<10}  {goal_text:<9} "
            f"{verdict:<6}  {source}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folder", type=Path, help="where the benches wrote their --json-out")
    args = ap.parse_args()
    reports = {p.stem: json.loads(p.read_text()) for p in sorted(args.folder.glob("*.json"))}
    print("\n== make bench: summary ==")
    for name, doc in reports.items():
        print(f"{name:<12} commit {doc['commit']}, load {doc['load_before']} → "
              f"{doc['load_after']}, {doc['runs']} run(s), {doc['seconds']:.0f} s")
    missing = [name for name in EXPECTED if name not in reports]
    header = (f"{'figure':<46} {'median':>10} {'range':>21}  {'target':<9} {'':<6}  bench")
    print("\nissue 17 targets (2 cores, triage worker running)\n" + header)
    shown = set()
    for bench, key, label, goal in ISSUE_17:
        entry = reports.get(bench, {}).get("figures", {}).get(key)
        print(row(label, entry, target(goal), bench))
        shown.add((bench, key))
    print("\nevery other figure with a target\n" + header)
    for bench, doc in reports.items():
        for key, entry in doc["figures"].items():
            if "target" in entry and (bench, key) not in shown:
                print(row(entry["label"].strip()[:46], entry, target(entry["target"]), bench))
    print("\nCPU ms per message per role (the figure the machine's load barely moves)")
    for bench, doc in reports.items():
        cpu = {k: v for k, v in doc["figures"].items() if "cpu_ms_per_msg" in k}
        for key, entry in cpu.items():
            if entry["median"] is not None:
                print(f"  {bench:<11} {key:<52} {fmt(entry['median']):>8}")
    if missing:
        print(f"\nno report from: {', '.join(missing)} (failed or not run: see its output above)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
