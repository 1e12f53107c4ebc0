"""What every benchmark in bench/ reports, measured one way: the commit, the load average before
and after, N repetitions with median and range, CPU ms per message per process role and peak RSS
per role, as a table (with each figure's target, met or missed) and as JSON.

Why CPU ms per message: the machine these benches run on is shared, so msgs/s moves with
whatever else runs; the CPU time a process spends per message (utime+stime from
/proc/<pid>/stat, all its threads, plus the short-lived children it has reaped, such as
Redis's AOF-rewrite fork) barely does, and it carries to bigger machines.

Roles come from each process's command line: `gateway` (deskgate serve / gateway processes),
`worker` (triage workers), `senders` (reply sender workers), `retraining` (rq retraining workers), `redis` (redis-server), `redis fork` (its
AOF-rewrite or snapshot child while one runs: its RSS is mostly the server's pages, shared),
`parse` (the gateway's mail-parse processes), `loadgen` (wrk) and `other`.

A bench uses it like this:

    report = Report("ingest", args)              # notes the commit and the load average
    for _ in range(args.runs):
        with serve(...) as proc, RssSampler(proc.pid) as rss:
            meter = CpuMeter(ProcessTree(proc.pid))
            ... load ...
            report.add_run({"accepted_per_s": n / s, **meter.per_message(n), **rss.figures()})
    report.target("accepted_per_s", ">=", 4000)
    return report.finish()                       # table, or JSON with --json
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import resource
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import redis

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "deskgate.gateway.cli.main"]
TICK = os.sysconf("SC_CLK_TCK")
ROLES = ("gateway", "worker", "senders", "retraining", "redis", "redis fork", "parse", "loadgen",
         "other")


def commit() -> str:
    """Short hash of HEAD, with "+dirty" when tracked files differ from it."""
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                          capture_output=True, text=True).stdout.strip() or "unknown"
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                           capture_output=True, text=True).stdout.strip()
    return head + ("+dirty" if dirty else "")


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ---------------------------------------------------------------------------------------------
# CPU and memory per process role

def cpu_seconds(pid: int, reaped: bool = False) -> float:
    """utime + stime of one process (all its threads) from /proc/<pid>/stat; with `reaped`, plus
    the CPU of the children it has waited for (cutime + cstime)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])
    if reaped:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / TICK


def self_cpu_seconds() -> float:
    """This process's own CPU (all threads), for benches that measure code in-process."""
    return time.process_time()


def role_of(cmdline: Sequence[str]) -> str:
    text = " ".join(cmdline)
    if "redis-aof" in text or "redis-rdb" in text:
        return "redis fork"  # AOF rewrite / snapshot: shares most of the server's pages
    if "redis-server" in text:
        return "redis"
    if text.startswith("wrk") or "/wrk " in text:
        return "loadgen"
    if "multiprocessing" in text:  # the gateway's spawned mail-parse processes
        return "parse"
    if "deskgate.gateway.cli" in text or "deskgate " in text:
        for word in cmdline:
            if word == "worker":
                return "worker"
            if word in ("retraining-worker", "jobs"):  # `jobs` is its old name
                return "retraining"
            if word == "senders":
                return "senders"
            if word in ("serve", "gateway"):
                return "gateway"
    return "other"


@dataclass
class ProcessTree:
    """The processes under one root (a `deskgate serve`), grouped by role; `extra` adds processes
    outside that tree (an external Redis, a load generator) with the role given."""

    root: int
    extra: dict[int, str] = field(default_factory=dict)
    root_role: str | None = None  # when the root's command line does not tell (a bench's own)

    def processes(self) -> list[tuple[psutil.Process, str]]:
        out: list[tuple[psutil.Process, str]] = []
        with contextlib.suppress(psutil.Error):
            root = psutil.Process(self.root)
            with contextlib.suppress(psutil.Error):
                out.append((root, self.root_role or role_of(root.cmdline())))
            for p in root.children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    out.append((p, role_of(p.cmdline())))
        for pid, role in self.extra.items():
            with contextlib.suppress(psutil.Error):
                out.append((psutil.Process(pid), role))
        return out

    def cpu(self) -> dict[str, float]:
        """CPU seconds per role so far: every process alive now, and for all but the root the
        children they reaped (Redis's short-lived AOF-rewrite fork); the root's children are
        measured alive, by role."""
        total = dict.fromkeys(ROLES, 0.0)
        for p, role in self.processes():
            with contextlib.suppress(FileNotFoundError, ProcessLookupError):
                total[role] = total.get(role, 0.0) + cpu_seconds(p.pid,
                                                                 reaped=p.pid != self.root)
        return total


class CpuMeter:
    """CPU per role from now on. `per_message(n)` gives `cpu_ms_per_msg <role>` figures and
    `cpu_ms_per_msg tree` (every role but the load generator)."""

    def __init__(self, tree: ProcessTree) -> None:
        self.tree = tree
        self.before = tree.cpu()
        self.loadgen = 0.0

    def add_loadgen(self, seconds: float) -> None:
        """CPU of a load generator that has exited (see run_loadgen)."""
        self.loadgen += seconds

    def per_message(self, n: float, suffix: str = "") -> dict[str, float]:
        after = self.tree.cpu()
        delta = {role: after[role] - self.before.get(role, 0.0) for role in after}
        delta["loadgen"] += self.loadgen
        out = {f"cpu_ms_per_msg {role}{suffix}": delta[role] * 1000 / n
               for role in delta if delta[role] > 0}
        out[f"cpu_ms_per_msg tree{suffix}"] = sum(
            v for r, v in delta.items() if r != "loadgen") * 1000 / n
        return out


def run_loadgen(argv: list[str], timeout: float | None = None) -> tuple[str, float]:
    """Run a load generator (wrk) to completion: its stdout and the CPU seconds it used (from
    this process's reaped-children usage, which only it adds to while it runs)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=timeout).stdout
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return out, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def memory_kb(pid: int) -> dict[str, int]:
    """Rss, Pss and Uss (private clean + private dirty) of one process in kB, from
    /proc/<pid>/smaps_rollup (Linux >= 4.14)."""
    fields: dict[str, int] = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            name, _, rest = line.partition(":")
            if rest.endswith("kB\n"):
                fields[name] = int(rest.split()[0])
    return {"rss": fields.get("Rss", 0), "pss": fields.get("Pss", 0),
            "uss": fields.get("Private_Clean", 0) + fields.get("Private_Dirty", 0)}


class RssSampler(threading.Thread):
    """Peak memory per role and of the whole tree (sum over its processes), sampled every 0.2 s,
    three ways: RSS (every page mapped, shared or not), PSS (each shared page divided among the
    processes that map it) and USS (pages no other process maps).

    The tree's PSS is the honest figure for "how much memory does the serve tree use": summing
    RSS counts a page shared by two processes twice. That matters most for Redis's AOF-rewrite
    fork, which at its start shares every page with the server (copy-on-write), so its RSS
    duplicates the server's; and for the forked or spawned Python processes that map the same
    libraries and read-only model files. The RSS figures are kept beside it for comparison."""

    KINDS = ("rss", "pss", "uss")

    def __init__(self, tree: ProcessTree | int) -> None:
        super().__init__(daemon=True)
        self.tree = tree if isinstance(tree, ProcessTree) else ProcessTree(tree)
        self.peak_by_role: dict[str, dict[str, int]] = {k: {} for k in self.KINDS}
        self.peak_total: dict[str, int] = dict.fromkeys(self.KINDS, 0)
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            by_role: dict[str, dict[str, int]] = {k: {} for k in self.KINDS}
            for p, role in self.tree.processes():
                if role == "loadgen":
                    continue
                with contextlib.suppress(OSError, psutil.Error):
                    for kind, kb in memory_kb(p.pid).items():
                        by_role[kind][role] = by_role[kind].get(role, 0) + kb * 1024
            for kind, roles in by_role.items():
                peaks = self.peak_by_role[kind]
                for role, n in roles.items():
                    peaks[role] = max(peaks.get(role, 0), n)
                self.peak_total[kind] = max(self.peak_total[kind], sum(roles.values()))
            self._stop_event.wait(0.2)

    def __enter__(self) -> RssSampler:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop_event.set()
        self.join(2)

    def figures(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for kind in self.KINDS:
            out.update({f"{kind}_mb {role}": v / 2**20
                        for role, v in sorted(self.peak_by_role[kind].items()) if v})
            out[f"{kind}_mb tree"] = self.peak_total[kind] / 2**20
        return out


# ---------------------------------------------------------------------------------------------
# A `deskgate serve` of the bench's own

@contextlib.contextmanager
def serve(data: Path, argv: Sequence[str], env: dict[str, str] | None = None,
          ready: Callable[[], bool] | None = None,
          timeout: float = 180) -> Iterator[subprocess.Popen[bytes]]:
    """`deskgate serve --data-dir <data> <argv>` with its log in <data>/../serve.log (printed
    on failure), stopped with SIGTERM. Without DESKGATE_REDIS_URL in `env` it runs its own Redis."""
    env = env if env is not None else {k: v for k, v in os.environ.items()
                                       if k != "DESKGATE_REDIS_URL"}
    data.mkdir(parents=True, exist_ok=True)
    log = data.parent / "serve.log"
    proc = subprocess.Popen([*CLI, "serve", "--data-dir", str(data), *argv], env=env,
                            stdout=subprocess.DEVNULL, stderr=log.open("wb"))
    try:
        deadline = time.monotonic() + timeout
        while ready is not None and not ready():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"deskgate serve did not come up (exit {proc.poll()})")
            time.sleep(0.1)
        yield proc
    except BaseException:
        print(log.read_text(errors="replace")[-3000:], file=sys.stderr)
        raise
    finally:
        proc.terminate()
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def http_ready(port: int, path: str = "/healthz") -> Callable[[], bool]:
    def check() -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=1):
                return True
        except OSError:
            return False
    return check


def port_ready(port: int) -> Callable[[], bool]:
    def check() -> bool:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        except OSError:
            return False
        return True
    return check


def token(data: Path, role: str = "integration", env: dict[str, str] | None = None) -> str:
    env = env if env is not None else {k: v for k, v in os.environ.items()
                                       if k != "DESKGATE_REDIS_URL"}
    return subprocess.run([*CLI, "token", "create", "--role", role, "--data-dir", str(data)],
                          env=env, capture_output=True, text=True, check=True).stdout.strip()


# ---------------------------------------------------------------------------------------------
# Repetitions, targets, the report

def add_arguments(parser: argparse.ArgumentParser, runs: int = 3) -> None:
    parser.add_argument("--runs", type=int, default=runs,
                        help=f"repetitions (median and range are reported; default {runs})")
    parser.add_argument("--json", action="store_true",
                        help="print the report as JSON instead of a table")
    parser.add_argument("--json-out", type=Path, default=None,
                        help="also write the JSON report to this file (make bench does)")


def median_range(values: Sequence[float]) -> tuple[float, float, float]:
    finite = [v for v in values if not math.isnan(v)]
    if not finite:
        return math.nan, math.nan, math.nan
    return statistics.median(finite), min(finite), max(finite)


@dataclass(frozen=True)
class Target:
    op: str       # ">=", "<=", "<", ">"
    value: float

    def met(self, x: float) -> bool:
        if math.isnan(x):
            return False
        return {">=": x >= self.value, "<=": x <= self.value, "<": x < self.value,
                ">": x > self.value}[self.op]

    def __str__(self) -> str:
        return f"{self.op} {self.value:g}"


class Report:
    """Collects the runs of one bench; `finish()` prints the table (or JSON) and returns 0."""

    def __init__(self, bench: str, args: argparse.Namespace, notes: Sequence[str] = ()) -> None:
        self.bench = bench
        self.args = args
        self.commit = commit()
        self.load_before = loadavg()
        self.load_after = ""
        self.started = time.time()
        self.runs: list[dict[str, float]] = []
        self.targets: dict[str, Target] = {}
        self.labels: dict[str, str] = {}
        self.notes = list(notes)
        self.info: dict[str, object] = {}

    def add_run(self, figures: dict[str, float]) -> None:
        self.runs.append(figures)

    def target(self, key: str, op: str, value: float, label: str | None = None) -> None:
        self.targets[key] = Target(op, value)
        if label:
            self.labels[key] = label

    def label(self, key: str, text: str) -> None:
        self.labels[key] = text

    def note(self, text: str) -> None:
        self.notes.append(text)

    def keys(self) -> list[str]:
        seen: dict[str, None] = {}
        for run in self.runs:
            seen.update(dict.fromkeys(run))
        return list(seen)

    def as_json(self) -> dict[str, object]:
        figures: dict[str, object] = {}
        for key in self.keys():
            values = [r.get(key, math.nan) for r in self.runs]
            med, lo, hi = median_range(values)
            entry: dict[str, object] = {"median": _num(med), "min": _num(lo), "max": _num(hi),
                                        "values": [_num(v) for v in values],
                                        "label": self.labels.get(key, key)}
            if key in self.targets:
                entry["target"] = str(self.targets[key])
                entry["met"] = self.targets[key].met(med)
            figures[key] = entry
        return {"bench": self.bench, "commit": self.commit, "cores": os.cpu_count(),
                "load_before": self.load_before, "load_after": self.load_after,
                "runs": len(self.runs), "seconds": round(time.time() - self.started, 1),
                "figures": figures, "notes": self.notes, **self.info}

    def finish(self) -> int:
        self.load_after = loadavg()
        doc = self.as_json()
        if self.args.json_out:
            self.args.json_out.write_text(json.dumps(doc, indent=2, ensure_ascii=False))
        if self.args.json:
            print(json.dumps(doc, indent=2, ensure_ascii=False))
            return 0
        print(render(doc))
        return 0


def _num(x: float) -> float | None:
    return None if math.isnan(x) else (round(x, 4) if math.isfinite(x) else x)


def render(doc: dict) -> str:
    figures: dict[str, dict] = doc["figures"]
    lines = [f"== {doc['bench']} == commit {doc['commit']}; {doc['cores']} cores; load average "
             f"{doc['load_before']} before, {doc['load_after']} after; {doc['runs']} run(s), "
             f"{doc['seconds']:.0f} s"]
    width = max([len(e["label"]) for e in figures.values()] + [20])
    lines.append(f"{'figure':<{width}} {'median':>10} {'range':>21}  target")
    for entry in figures.values():
        med, lo, hi = (entry[k] if entry[k] is not None else math.nan
                       for k in ("median", "min", "max"))
        verdict = ""
        if "target" in entry:
            verdict = f"{entry['target']:<9} {'met' if entry['met'] else 'MISSED'}"
        lines.append(f"{entry['label']:<{width}} {fmt(med):>10} {fmt(lo):>10}–{fmt(hi):<10}  "
                     f"{verdict}")
    lines.extend(doc["notes"])
    if any(float(x) > 0.5 for x in doc["load_before"].split()[:1]):
        lines.append("load average was above 0.5: other work shared the cores; msgs/s are "
                     "depressed by it, CPU ms per message far less.")
    return "\n".join(lines)


def fmt(x: float) -> str:
    if math.isnan(x):
        return "n/a"
    if abs(x) >= 100:
        return f"{x:,.0f}"
    return f"{x:.3f}" if abs(x) < 10 else f"{x:.2f}"


def pct(values: Sequence[float], q: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def routed(r: redis.Redis, stream: str) -> bool:
    """Every entry of the ingest stream delivered to the triage group and acknowledged (read
    from Redis, so that waiting for it costs the gateway nothing)."""
    try:
        groups = r.xinfo_groups(stream)
        last = r.xinfo_stream(stream)["last-generated-id"]
    except redis.ResponseError:
        return False
    return any(g["last-delivered-id"] == last and g["pending"] == 0 for g in groups)
