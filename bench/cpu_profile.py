"""Where the CPU of one short API message goes: starts its own `deskgate serve` (one gateway,
one triage worker, embedded Redis), loads it like phase 1 of bench/ingest.py (wrk closed-loop,
unique messages) while py-spy samples the gateway and the worker processes, and prints, per
step, its share of the process's samples and that share of the process's CPU ms per message
(measured from /proc over the same span: the figure the machine's load barely moves).

Redis's own split comes from INFO commandstats (the time Redis measures inside each command;
its event loop and socket reads and writes are the rest of its CPU).

Steps are assigned by the first rule (in the order of STEPS) that matches a frame of the
sampled stack. py-spy counts running and runnable threads alike, so on a loaded machine a
frame where the process is often preempted (a socket write that wakes Redis) weighs more than
its CPU; the CPU ms per process role are exact, the split between steps an estimate.

Run: make bench-profile   (or: .venv/bin/python bench/cpu_profile.py --seconds 10 --runs 3)
Needs py-spy (in the test extras: `make test` installs it) and wrk.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import harness
import ingest
import load
import redis
from harness import CpuMeter, ProcessTree, Report

from deskgate.queue.keys import Keys

PY_SPY = str(Path(sys.executable).with_name("py-spy"))  # the virtualenv's, else on PATH

# role -> [(step, pattern over one frame "function (file:line)")]; first match wins
STEPS: dict[str, list[tuple[str, str]]] = {
    "gateway": [
        ("access log", r"AccessLogger\.log|log_access|logging/"),
        # not auth.py's `checked` wrapper: the whole handler runs inside it
        ("auth + scope (token, role, object)",
         r"authenticate|principal \(auth|\(tokens\.py|\(scope\.py|Policy\.admit"),
        ("JSON decode + validate (body)",
         r"read_body|\(body\.py|decode_body|_validate \(api_messages|_sender \(api_messages"
         r"|_account \(api_messages|msgspec"),
        ("ingest Lua script (redis-py + socket)", r"\(ingest\.py|redis/|\(persistence\.py"),
        ("JSON reply + metrics", r"json_response|\(metrics\.py|JSONEncoder"),
        ("HTTP reply write (aiohttp + socket)", r"finish_response|write_eof|http_writer"),
        ("HTTP parse + routing (aiohttp)",
         r"data_received|web_urldispatcher|web_protocol|web_app|web_middlewares|intake\.py"
         r"|api_messages\.py"),
        ("event loop, other", r""),
    ],
    "worker": [
        ("read + decode entries (worker parse)",
         r"_read_batch|IngestReader\.read|\(codec\.py|decode_entries|msgspec"),
        ("triage: language detection", r"LanguageDetector|LanguageComponent|fasttext|langid"),
        ("triage: tokenize (jieba, spaCy doc)", r"make_doc|JiebaTokenizer|jieba/|tokenizer"),
        ("triage: entities", r"EntityComponent|EntityExtractor|entities\.py"),
        ("triage: risk", r"Risk|risk\.py|rules\.py"),
        ("triage: classifiers (features, models)",
         r"\(model\.py|\(features\.py|scipy/|sklearn/|numpy/"),
        ("triage: other", r"Triager\.triage|\(pipeline\.py|spacy/"),
        ("apply: tickets, threads, customers", r"\(tickets\.py|TicketStore"),
        ("apply: route + SLA clocks", r"\(work_loop\.py|\(sla\.py|WorkLoop|Sla\."),
        ("ack, stats, trim", r"\(stats\.py|\.ack |trim_acknowledged|\(stream\.py"),
        ("event loop, other", r""),
    ],
}


def steps_of(samples: Counter[str], role: str) -> dict[str, float]:
    """Share of the samples per step."""
    rules = [(name, re.compile(pattern)) for name, pattern in STEPS[role]]
    counts: Counter[str] = Counter()
    for stack, n in samples.items():
        frames = stack.split(";")
        for name, rule in rules:
            if not rule.pattern or any(rule.search(f) for f in frames):
                counts[name] += n
                break
    total = sum(counts.values()) or 1
    return {name: counts[name] / total for name, _ in rules}


def read_raw(path: Path) -> Counter[str]:
    samples: Counter[str] = Counter()
    if path.exists():
        for line in path.read_text().splitlines():
            stack, _, n = line.rpartition(" ")
            if stack and n.isdigit():
                samples[stack] += int(n)
    return samples


def one_run(args: argparse.Namespace, run: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="dg-bench-profile-") as tmp:
        data, port = Path(tmp) / "data", harness.free_port()
        argv = ["--port", str(port), "--workers", "1", "--job-workers", "0", "--no-smtp"]
        with harness.serve(data, argv, ready=harness.http_ready(port)) as proc:
            base = f"http://127.0.0.1:{port}"
            token = harness.token(data)
            r = redis.Redis(unix_socket_path=str(data / "redis" / "redis.sock"),
                            decode_responses=True)
            stream = Keys().ingest
            load.post_messages(base, token, 1, args.concurrency, f"r{run}warm")
            ingest.wait_routed(r, stream, 300)
            tree = ProcessTree(proc.pid)
            pids = {role: p.pid for p, role in tree.processes() if role in STEPS}
            spies = {role: subprocess.Popen(
                [shutil.which(PY_SPY) or "py-spy", "record", "-p", str(pid), "-d", str(int(args.seconds) + 30),
                 "-r", str(args.sample_rate), "--nonblocking", "-f", "raw",
                 "-o", f"{tmp}/{role}.txt"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                for role, pid in pids.items()}
            time.sleep(1)  # py-spy attached
            before = r.info("commandstats")
            meter = CpuMeter(tree)
            res = load.post_messages(base, token, args.seconds, args.concurrency, f"r{run}")
            meter.add_loadgen(res.cpu_seconds)
            ingest.wait_routed(r, stream, 600)
            fig = meter.per_message(res.requests)
            after = r.info("commandstats")
            for spy in spies.values():
                spy.send_signal(2)  # SIGINT: py-spy writes what it has and exits
                spy.wait(60)
            r.close()
            fig["accepted_per_s"] = res.per_s
            fig["rejected"] = res.non_2xx
            for role in pids:
                ms = fig[f"cpu_ms_per_msg {role}"]
                for step, share in steps_of(read_raw(Path(tmp) / f"{role}.txt"), role).items():
                    fig[f"{role}: {step}"] = share * ms
            # Redis times each command itself: its split needs no sampling
            for command, stats in sorted(after.items()):
                ms = (stats["usec"] - before.get(command, {}).get("usec", 0)) / 1000
                if ms / res.requests >= 0.001:
                    name = command.removeprefix("cmdstat_")
                    fig[f"redis: {name} (inside Redis; scripts include their calls)"] = (
                        ms / res.requests)
    return fig


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=10.0, help="length of the loaded span")
    ap.add_argument("--concurrency", type=int, default=64, help="wrk connections")
    ap.add_argument("--sample-rate", type=int, default=200, help="py-spy samples per second")
    harness.add_arguments(ap)
    args = ap.parse_args()
    load.require_wrk()
    if shutil.which(PY_SPY) is None and shutil.which("py-spy") is None:
        raise SystemExit("needs py-spy: make test (or .venv/bin/pip install py-spy)")
    report = Report("profile", args, notes=[
        "CPU ms per short message per process (exact, /proc) and, below each, its split by "
        f"step (py-spy samples at {args.sample_rate}/s, an estimate); wrk -c{args.concurrency},"
        f" {args.seconds:g} s, one gateway, one worker, from the first post until drained."])
    for run in range(args.runs):
        report.add_run(one_run(args, run))
    return report.finish()


if __name__ == "__main__":
    sys.exit(main())
