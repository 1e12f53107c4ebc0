"""Email benchmark: starts its own `deskgate serve` (embedded Redis, private data dir, SMTP on a
free loopback port, one triage worker) and a private Dovecot, then reports emails/s:

  SMTP over 1 connection and over 4 connections (client processes), to accepted (250 received)
  and to routed (the triage workers have acknowledged every entry)
  IMAP from a mailbox pre-filled with N messages (moved into the polled folder at once), to
  accepted (all in the ingest stream) and to routed
  and for each path CPU ms per message (bench/harness.py): the gateway's own up to accepted,
  and each role's (gateway, triage workers, Redis, retraining; tree = their sum) up to routed, which
  depends far less than msgs/s on what else runs on the shared cores

Messages are the tests/fixtures/email corpus (Chinese and English, replies, attachments,
auto-replies, bounces) with a unique Message-ID each. The sender checks (SPF, DMARC, DKIM) ask
the tests' DNS stand-in on 127.0.0.1, never real DNS; the envelope domain's SPF passes.
Run: .venv/bin/python bench/mail.py [--messages 1000] [--workers 0: intake alone, no routing]
     [--runs 3] [--json]
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import re
import shutil
import smtplib
import sys
import tempfile
import time
from pathlib import Path

import harness
import redis
from harness import CpuMeter, ProcessTree, Report, RssSampler
from imapclient import IMAPClient

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "email"))
from dnszone import DnsStandIn  # noqa: E402 - the tests' DNS stand-in
from dovecot import Dovecot  # noqa: E402 - the tests' private Dovecot helper

TARGETS = {"smtp_1_conn": 300, "smtp_4_conn": 800, "imap": 300}
CPU_TARGET_MS = 2.0  # whole serve tree, per realistic email, end to end (issue 17)
CORPUS = sorted((ROOT / "tests" / "fixtures" / "email").glob("*.eml"))
_MSGID = re.compile(rb"^Message-I[Dd]:.*$", re.MULTILINE | re.IGNORECASE)
PREFIX = "bench:"


def message(tag: str, i: int) -> bytes:
    raw = CORPUS[i % len(CORPUS)].read_bytes()
    mid = f"Message-ID: <bench-{tag}-{i}@bench.example>".encode()
    raw = _MSGID.sub(mid, raw, count=1) if _MSGID.search(raw) else mid + b"\r\n" + raw
    return raw


def smtp_client(port: int, tag: str, indices: list[int]) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=60) as s:
        for i in indices:
            s.sendmail("bench@example.net", ["support@example.com"], message(tag, i))


def routed(r: redis.Redis) -> bool:
    return harness.routed(r, f"{PREFIX}ingest")


def stream_len(r: redis.Redis) -> int:
    return int(r.xlen(f"{PREFIX}ingest"))


def wait(check, timeout: float = 600) -> float:  # check: a predicate
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise SystemExit("benchmark stalled")
        time.sleep(0.01)
    return time.perf_counter()


class Meter:
    """Wall clock and CPU per role from the start of a phase: the gateway's to accepted (the
    intake's own cost), every role's to routed (what one email costs the serve tree)."""

    def __init__(self, tree: ProcessTree, n: int) -> None:
        self.tree, self.n = tree, n
        self.cpu = CpuMeter(tree)
        self.start = time.perf_counter()
        self.accepted = 0.0
        self.gateway_ms = math.nan

    def at_accepted(self) -> None:
        self.accepted = time.perf_counter()
        self.gateway_ms = self.cpu.per_message(self.n)["cpu_ms_per_msg gateway"]

    def at_routed(self, r: redis.Redis, triage: bool) -> dict[str, float]:
        fig = {"accepted_per_s": self.n / (self.accepted - self.start),
               "cpu_ms_per_msg gateway to accepted": self.gateway_ms}
        if triage:
            wait(lambda: routed(r))
            fig["routed_per_s"] = self.n / (time.perf_counter() - self.start)
            fig.update(self.cpu.per_message(self.n, " to routed"))
        return fig


def smtp_phase(port: int, r: redis.Redis, tree: ProcessTree, triage: bool, connections: int,
               n: int, run: int) -> dict[str, float]:
    before = stream_len(r)
    shares = [list(range(k, n, connections)) for k in range(connections)]
    tag = f"r{run}c{connections}"
    meter = Meter(tree, n)
    with multiprocessing.Pool(connections) as pool:
        pool.starmap(smtp_client, [(port, tag, share) for share in shares])
    meter.at_accepted()
    assert stream_len(r) - before == n, "every 250 must be one new stream entry"
    return meter.at_routed(r, triage)


def imap_phase(dovecot: Dovecot, user: str, r: redis.Redis, tree: ProcessTree, triage: bool,
               n: int, run: int) -> dict[str, float]:
    c = dovecot.client(user)
    staging = f"Staging{run}"
    c.create_folder(staging)
    for chunk in range(0, n, 200):
        c.multiappend(staging, [message(f"imap{run}", i)
                                for i in range(chunk, min(n, chunk + 200))])
    c.select_folder(staging)
    before = stream_len(r)
    meter = Meter(tree, n)
    c.move(c.search(["ALL"]), "INBOX")
    c.logout()
    wait(lambda: stream_len(r) - before >= n)
    meter.at_accepted()
    return meter.at_routed(r, triage)


def config_text(smtp_port: int, dovecot: Dovecot, user: str, dns: DnsStandIn) -> str:
    # workers.keep_acked_seconds: the phases count new ingest-stream entries, so acknowledged
    # ones must not be trimmed under them (by default they go after 60 s)
    return f"""redis_prefix: "{PREFIX}"
workers: {{keep_acked_seconds: 3600}}
email:
  sender_auth: {{nameservers: ["{dns.address}"]}}
  smtp: {{host: 127.0.0.1, port: {smtp_port}}}
  inboxes:
    - {{address: support@example.com, account: support, skill: general}}
  own_addresses: [noreply@example.com]
  imap:
    - {{name: bench, host: 127.0.0.1, port: {dovecot.port}, tls: false, user: {user},
       password: {dovecot.PASSWORD}, account: support, folder: INBOX, after_ingest: seen,
       start_from: all, batch: 200, poll_seconds: 5}}
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=1000, help="per phase")
    parser.add_argument("--workers", type=int, default=1,
                        help="triage worker processes (0: measure the intake alone)")
    harness.add_arguments(parser)
    args = parser.parse_args()
    if shutil.which("dovecot") is None:
        raise SystemExit("needs Dovecot: apt-get install -y dovecot-imapd")
    report = Report("mail", args, notes=[
        f"{args.messages} emails per phase, {args.workers} triage worker(s), the phases "
        "repeated --runs times against one serve. Targets apply to accepted; routed is bounded "
        "by the triage workers. CPU ms/msg: the gateway's to accepted, every role's to routed "
        "(tree = the whole serve tree's cost of one realistic email end to end)."])
    tmp = Path(tempfile.mkdtemp(prefix="deskgate-bench-mail-"))
    tmp.chmod(0o755)
    dovecot = Dovecot(tmp / "dovecot")
    dovecot.start()
    dns = DnsStandIn()
    dns.zone.txt("example.net", "v=spf1 ip4:127.0.0.1 -all")
    dns.start()
    try:
        user = "bench"
        IMAPClient("127.0.0.1", port=dovecot.port, ssl=False).login(user, dovecot.PASSWORD)
        smtp_port, http_port = harness.free_port(), harness.free_port()
        (tmp / "config.yaml").write_text(config_text(smtp_port, dovecot, user, dns))
        with harness.serve(tmp / "data", ["--config", str(tmp / "config.yaml"), "--port",
                                          str(http_port), "--workers", str(args.workers)],
                           ready=harness.port_ready(smtp_port)) as serve, \
                RssSampler(serve.pid) as rss:
            r = redis.Redis(unix_socket_path=str(tmp / "data" / "redis" / "redis.sock"),
                            decode_responses=True)
            smtp_client(smtp_port, "warmup", list(range(len(CORPUS))))  # models load, group
            triage = args.workers > 0
            if triage:
                wait(lambda: routed(r), timeout=300)
            tree = ProcessTree(serve.pid)
            for run in range(args.runs):
                phases = {
                    "smtp_1_conn": smtp_phase(smtp_port, r, tree, triage, 1, args.messages, run),
                    "smtp_4_conn": smtp_phase(smtp_port, r, tree, triage, 4, args.messages, run),
                    "imap": imap_phase(dovecot, user, r, tree, triage, args.messages, run),
                }
                report.add_run({f"{name} {key}": value for name, fig in phases.items()
                                for key, value in fig.items()})
        report.runs[-1].update(rss.figures())
    finally:
        dovecot.stop()
        dns.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    for name, target in TARGETS.items():
        report.target(f"{name} accepted_per_s", ">=", target)
        report.target(f"{name} cpu_ms_per_msg tree to routed", "<=", CPU_TARGET_MS)
    return report.finish()


if __name__ == "__main__":
    sys.exit(main())
