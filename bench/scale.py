"""Scale-out benchmark: `deskgate serve --gateways N --workers M` (N HTTP gateway processes on
one port with SO_REUSEPORT, M triage worker processes, one embedded Redis) for N = 1, 2, 4, each
loaded like phase 1 of bench/ingest.py (wrk closed-loop posting unique messages for --seconds,
then the backlog drained), reporting per N:

  accepted msgs/s, end-to-end msgs/s (first post until the triage group acknowledged all)
  CPU ms per message per role (all gateway processes together, workers, Redis; tree = sum;
  loadgen = wrk), which is what carries to a machine with more cores: on 2 cores the CPU caps
  msgs/s, so more processes cannot raise it much, but CPU ms/msg shows what each costs

Each N runs --runs times, each with a fresh serve (median and range, bench/harness.py).
Run: make bench-scale   (or: .venv/bin/python bench/scale.py --gateways 1,2,4 --seconds 10)
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import harness
import ingest
import load
from harness import Report


def one_run(args: argparse.Namespace, gateways: int, run: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="dg-bench-scale-") as tmp:
        data, port = Path(tmp) / "data", harness.free_port()
        argv = [*ingest.serve_args(args, port), "--gateways", str(gateways), "--job-workers",
                "0"]
        with harness.serve(data, argv, ready=harness.http_ready(port)) as proc:
            fig = ingest.measure(args, f"g{gateways}r{run}", proc.pid, data, port,
                                 rate_phase=False)
    return {f"{gateways} gw {key}": value for key, value in fig.items()
            if not key.startswith(("rss_mb", "pss_mb", "uss_mb")) or key.endswith(" tree")}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    ingest.add_arguments(ap)
    ap.add_argument("--gateways", default="1,2,4", help="gateway process counts to compare")
    args = ap.parse_args()
    load.require_wrk()
    counts = [int(n) for n in args.gateways.split(",")]
    report = Report("scale", args, notes=[
        f"{args.workers} triage worker process(es), no job worker; wrk -c{args.concurrency} "
        f"for {args.seconds:g} s per run; the gateway counts interleaved within each run. "
        "On 2 cores the CPU caps msgs/s: compare CPU ms/msg per role."])
    for run in range(args.runs):
        figures: dict[str, float] = {}
        for n in counts:
            figures.update(one_run(args, n, run))
        report.add_run(figures)
    for n in counts:
        report.target(f"{n} gw accepted_per_s", ">=", 4000)
        report.target(f"{n} gw e2e_per_s", ">=", 1500)
        report.target(f"{n} gw rejected", "<=", 0)
    return report.finish()


if __name__ == "__main__":
    sys.exit(main())
