"""Sender-check benchmark: the CPU one message's DKIM / SPF / DMARC check costs the gateway.

The DNS stand-in of the tests (dnslib, UDP on 127.0.0.1) runs in its own process, so the CPU
measured (this process's own, all threads) is the verifier's alone: dkimpy, pyspf,
dnspython and the thread hand-off of check_async. Three shapes, each checked --messages times
per run, --runs runs (median and range, bench/harness.py): an unsigned mail whose envelope domain passes SPF (SPF + DMARC lookups),
a DKIM-signed one (2048-bit key lookup and RSA verify), a forged one (SPF fail).
Run: .venv/bin/python bench/sender_auth.py [--messages 300] [--ttl 300; 0 = no DNS caching]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import sys
import time
from multiprocessing.connection import Connection
from pathlib import Path

import harness
from harness import Report, self_cpu_seconds

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "email"))
from dnszone import DkimKey, DnsStandIn  # noqa: E402 - the tests' DNS stand-in and keys

from deskgate.connectors.email_auth import SenderVerifier, SmtpPeer  # noqa: E402
from deskgate.connectors.email_config import SenderAuthConfig  # noqa: E402

TARGET_CPU_MS = 3.0   # per message: about the whole SMTP intake's CPU per message before
FROM = "wang.fang@example.org"


def dns_process(records: list[tuple[str, str]], ttl: int, conn: Connection) -> None:
    dns = DnsStandIn(ttl)
    for name, value in records:
        dns.zone.txt(name, value)
    dns.start()
    conn.send(dns.address)
    conn.recv()          # until the benchmark is done
    dns.stop()


def mail(n: int) -> bytes:
    return (f"From: Wang Fang <{FROM}>\r\nTo: support@example.com\r\nSubject: order {n}\r\n"
            f"Message-ID: <bench-{n}@example.org>\r\nContent-Type: text/plain\r\n\r\n"
            + "我的订单还没有发货，请帮忙查一下。\r\n" * 20).encode()


async def run(verifier: SenderVerifier, raws: list[bytes], peer: SmtpPeer) -> tuple[float, bool]:
    before = self_cpu_seconds()
    results = [await verifier.check_async(raw, FROM, peer) for raw in raws]
    return (self_cpu_seconds() - before) * 1000 / len(raws), results[0].verified


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=300, help="checks per shape and run")
    parser.add_argument("--ttl", type=int, default=300,
                        help="TTL of the records: 0 = every check asks DNS (cold cache)")
    harness.add_arguments(parser)
    args = parser.parse_args()
    key = DkimKey("example.org")
    records = [(f"{key.selector}._domainkey.example.org", key.record),
               ("example.org", "v=spf1 ip4:127.0.0.0/8 -all"),
               ("_dmarc.example.org", "v=DMARC1; p=reject"),
               ("evil.example", "v=spf1 ip4:192.0.2.1 -all")]
    parent, child = multiprocessing.Pipe()
    server = multiprocessing.Process(target=dns_process, args=(records, args.ttl, child), daemon=True)
    server.start()
    address = parent.recv()
    verifier = SenderVerifier(SenderAuthConfig(nameservers=(address,)))
    shapes = {
        "spf pass, unsigned": ([mail(i) for i in range(args.messages)],
                               SmtpPeer("127.0.0.1", "mx.example.org", FROM)),
        "dkim signed": ([key.sign(mail(i)) for i in range(args.messages)],
                        SmtpPeer("127.0.0.1", "mx.example.org", "b@evil.example")),
        "forged (spf fail)": ([mail(i) for i in range(args.messages)],
                              SmtpPeer("127.0.0.1", "mx.evil.example", "x@evil.example")),
    }
    report = Report("sender_auth", args, notes=[
        f"{args.messages} checks per shape and run, record TTL {args.ttl} s "
        f"({'every check asks DNS' if not args.ttl else 'cached answers'}); CPU is this "
        "process's (the verifier's), the DNS stand-in runs apart."])
    try:
        asyncio.run(run(verifier, shapes["spf pass, unsigned"][0][:20],
                        shapes["spf pass, unsigned"][1]))          # PSL load, imports
        for _ in range(args.runs):
            figures: dict[str, float] = {}
            for name, (raws, peer) in shapes.items():
                started = time.perf_counter()
                ms, verified = asyncio.run(run(verifier, raws, peer))
                figures[f"{name} cpu_ms_per_msg"] = ms
                figures[f"{name} checks_per_s"] = len(raws) / (time.perf_counter() - started)
                figures[f"{name} verified"] = float(verified)
            report.add_run(figures)
    finally:
        verifier.close()
        parent.send("stop")
        server.join(10)
    for name in shapes:
        report.target(f"{name} cpu_ms_per_msg", "<=", TARGET_CPU_MS)
    return report.finish()


if __name__ == "__main__":
    raise SystemExit(main())
