"""What the customer-facing pages cost: the status page and the visitor widget's calls, against
a real `deskgate serve` (embedded Redis, triage worker, sender), CPU ms per request by role.

  status: GET /status/<token> of a ticket with 20 messages and 20 replies (the page reads the
          ticket, its messages and replies, and takes a view slot)
  send:   POST /webchat/<account>/visitor/messages (visitor token, Origin, intake; the tree
          figure includes the triage worker's and sender's share of that message)
  poll:   GET /webchat/<account>/visitor/replies for a visitor with replies waiting or not

Requests are sequential from this process (one keep-alive connection per client address; the
per-address and per-visitor limits are respected by rotating 127.0.0.x source addresses and
visitors), so the figures are per request, not a throughput test. No target was set for these;
the gateway's CPU per request is the figure to compare with an API call's.

Run: .venv/bin/python bench/customer.py [--requests 300] [--runs 3]
"""

from __future__ import annotations

import argparse
import http.client
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import harness
from harness import CpuMeter, ProcessTree, Report

from deskgate.connectors.webchat import visitor_token

SECRET = "bench-secret-0123456789abcdef"
ORIGIN = "http://shop.bench.example"
CONFIG = f"""
channels:
  webchat:
    site: {{secret: {SECRET}, allowed_origins: ["{ORIGIN}"]}}
"""
PER_ADDRESS = 50         # status views from one source address (the limit is 60 per 10 min)
SENDS_PER_VISITOR = 15   # widget messages per visitor (the limit is 20 per minute)


class Client:
    """Keep-alive HTTP from one 127.0.0.x source address."""

    def __init__(self, port: int, source: str = "127.0.0.1") -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30,
                                               source_address=(source, 0))

    def call(self, method: str, path: str, body: Any = None,
             headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        data = json.dumps(body).encode() if body is not None else None
        hdrs = {"Content-Type": "application/json", **(headers or {})} if data else \
            dict(headers or {})
        self.conn.request(method, path, body=data, headers=hdrs)
        resp = self.conn.getresponse()
        return resp.status, resp.read()


def setup(port: int, data: Path) -> tuple[str, str]:
    """A ticket with 20 messages and 20 replies; its status path and id."""
    integration, admin = harness.token(data), harness.token(data, "admin")
    c = Client(port)
    auth = {"Authorization": f"Bearer {integration}"}
    for n in range(20):
        status, body = c.call("POST", "/api/v1/messages", {
            "external_id": f"b-{n}", "thread_key": "bench-thread",
            "sender": {"email": "li@example.cn", "name": "李雷"},
            "text": f"第 {n} 条：订单 DD2026111800452{n % 10} 还没有发货，请帮我查一下"}, auth)
        assert status == 202, body
    adm = {"Authorization": f"Bearer {admin}"}
    for _ in range(600):
        _, body = c.call("GET", "/api/v1/tickets", headers=adm)
        tickets = json.loads(body)["tickets"]
        if tickets and len(json.loads(c.call("GET", f"/api/v1/tickets/{tickets[0]['id']}",
                                             headers=adm)[1])["messages"]) == 20:
            break
        time.sleep(0.1)
    tid = tickets[0]["id"]
    for n in range(20):
        status, body = c.call("POST", f"/api/v1/tickets/{tid}/replies",
                              {"text": f"您好，第 {n} 次回复：已为您催促仓库"}, adm)
        assert status == 201, body
    c.call("PUT", "/api/v1/macros/link", {"title": "link", "zh": "{status_link}"}, adm)
    _, body = c.call("GET", f"/api/v1/tickets/{tid}/macros/link", headers=adm)
    url = json.loads(body)["text"]
    return url[url.index("/status/"):], tid


def one_run(args: argparse.Namespace) -> dict[str, float]:
    fig: dict[str, float] = {}
    n = args.requests
    with tempfile.TemporaryDirectory(prefix="dg-bench-customer-") as tmp:
        data, port = Path(tmp) / "data", harness.free_port()
        cfg = Path(tmp) / "config.yaml"
        cfg.write_text(CONFIG, encoding="utf-8")
        with harness.serve(data, ["--port", str(port), "--config", str(cfg), "--no-smtp",
                                  "--job-workers", "0"], ready=harness.http_ready(port)) as proc:
            path, _ = setup(port, data)
            tree = ProcessTree(proc.pid)

            meter = CpuMeter(tree)
            for i in range(n):
                if i % PER_ADDRESS == 0:
                    c = Client(port, f"127.0.{1 + i // (PER_ADDRESS * 250)}."
                                     f"{2 + (i // PER_ADDRESS) % 250}")
                status, body = c.call("GET", path)
                assert status == 200, (status, body[:300])
            fig.update({k.replace("msg", "view"): v for k, v in meter.per_message(n).items()})

            visitors = [visitor_token(SECRET, "site", f"bench-{run_id()}-{v}",
                                      int(time.time()) + 3600)
                        for v in range(-(-n // SENDS_PER_VISITOR))]
            c = Client(port)
            meter = CpuMeter(tree)
            for i in range(n):
                tok = visitors[i // SENDS_PER_VISITOR]
                status, body = c.call("POST", "/webchat/site/visitor/messages",
                                      {"client_id": f"m-{i:08d}", "text": "你好，请问我的订单发货了吗？"},
                                      {"Authorization": f"Bearer {tok}", "Origin": ORIGIN})
                assert status == 202, (status, body)
            fig.update({k.replace("msg", "send"): v for k, v in meter.per_message(n).items()})

            meter = CpuMeter(tree)
            for i in range(n):
                tok = visitors[i % len(visitors)]
                status, body = c.call("GET", "/webchat/site/visitor/replies?after=0",
                                      headers={"Authorization": f"Bearer {tok}",
                                               "Origin": ORIGIN})
                assert status == 200, (status, body)
            fig.update({k.replace("msg", "poll"): v for k, v in meter.per_message(n).items()})
    return fig


def run_id() -> str:
    return str(time.monotonic_ns())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--requests", type=int, default=300, help="requests per phase and run")
    harness.add_arguments(ap)
    args = ap.parse_args()
    report = Report("customer", args, notes=[
        "sequential requests from one Python client (not in the measured tree); the send "
        "phase's tree figure includes triage and the auto-acknowledgement path's share"])
    for _ in range(args.runs):
        report.add_run(one_run(args))
    for phase in ("view", "send", "poll"):
        report.label(f"cpu_ms_per_{phase} gateway", f"gateway CPU ms per {phase}")
    return report.finish()


if __name__ == "__main__":
    sys.exit(main())
