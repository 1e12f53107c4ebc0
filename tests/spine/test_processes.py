"""The real processes: `deskgate serve` as a new user runs it, and a worker killed with
SIGKILL in the middle of a batch, whose messages another worker must finish."""

from __future__ import annotations

import json
import os
import signal
import smtplib
import subprocess
import sys
import urllib.request
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import redis

from deskgate.gateway.config import DEFAULT_CONFIG
from deskgate.models.codec import encode
from deskgate.models.enums import Channel, IdentityKind
from deskgate.models.message import Identity, InboundMessage, Sender
from deskgate.queue.keys import Keys

CLI = [sys.executable, "-m", "deskgate.gateway.cli.main"]


def _http(method: str, url: str, token: str = "", body: dict | None = None) -> tuple[int, dict]:
    req = urllib.request.Request(url, method=method,
                                 data=json.dumps(body).encode() if body is not None else None,
                                 headers={"Content-Type": "application/json",
                                          **({"Authorization": f"Bearer {token}"} if token
                                             else {})})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


@pytest.mark.slow
def test_serve_runs_everything_on_embedded_defaults(tmp_path: Path, free_port: Any,
                                                     wait_for: Any) -> None:
    env = {k: v for k, v in os.environ.items() if k != "DESKGATE_REDIS_URL"}
    port, smtp_port = free_port(), free_port()
    # The defaults, but the mail sender check asks a closed loopback port, never real DNS.
    config = tmp_path / "deskgate.yaml"
    config.write_text(DEFAULT_CONFIG.read_text(encoding="utf-8").replace(
        "\nemail:\n", '\nemail:\n  sender_auth: {nameservers: ["127.0.0.1:'
        f'{free_port()}"], dns_budget_seconds: 0.5}}\n', 1), encoding="utf-8")
    env["DESKGATE_CONFIG"] = str(config)
    data = tmp_path / "data"
    serve = subprocess.Popen([*CLI, "serve", "--port", str(port), "--data-dir", str(data),
                              "--smtp-port", str(smtp_port)],
                             env=env, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _ok(f"{base}/healthz"), 60, "serve to answer /healthz")
        assert (data / "redis" / "appendonlydir").exists() or (data / "redis").exists()

        def cli(*args: str) -> str:
            out = subprocess.run([*CLI, *args, "--data-dir", str(data)], env=env,
                                 capture_output=True, text=True, timeout=60, check=True)
            return out.stdout.strip()

        integration = cli("token", "create", "--role", "integration")
        manager = cli("token", "create", "--role", "manager")
        status, body = _http("POST", f"{base}/api/v1/messages", integration, {
            "external_id": "e2e-1", "sender": {"email": "wang@example.cn"},
            "text": "快递单号 SF1234567890123 三天没更新了"})
        assert status == 202
        mid = body["id"]
        tid = wait_for(lambda: _http("GET", f"{base}/api/v1/messages/{mid}", manager)[1]
                    .get("ticket_id"), 60, "the worker to ticket the message")
        _, ticket = _http("GET", f"{base}/api/v1/tickets/{tid}", manager)
        cli("agent", "add", "ann", "--skills", ticket["skill"], "--capacity", "3")
        agent = cli("token", "create", "--role", "agent", "--agent-id", "ann")
        status, claimed = _http("POST", f"{base}/api/v1/agents/ann/claim", agent)
        assert status == 200 and claimed["ticket"]["id"] == tid
        assert claimed["ticket"]["triage"]["language"] == "zh"

        # the embedded defaults also take real mail, for any recipient, on loopback
        mail = EmailMessage()
        mail["From"], mail["To"] = "陈先生 <chen@example.cn>", "help@shop.example"
        mail["Subject"], mail["Message-ID"] = "退款还没到账", "<e2e-1@example.cn>"
        mail.set_content("订单 DD20261118004521 的退款 599 元还没到账，请尽快处理。")
        with smtplib.SMTP("127.0.0.1", smtp_port, timeout=10) as smtp:
            smtp.send_message(mail)

        def mailed() -> dict | None:
            _, page = _http("GET", f"{base}/api/v1/tickets?channel=email", manager)
            return page["tickets"][0] if page.get("tickets") else None
        mailed_ticket = wait_for(mailed, 60, "the email to become a ticket")
        assert mailed_ticket["subject"] == "退款还没到账"
        assert mailed_ticket["customer"]["id"] != ticket["customer"]["id"]
    finally:
        serve.send_signal(signal.SIGTERM)
        _, err = serve.communicate(timeout=60)
    assert serve.returncode == 0, err[-2000:]
    assert "embedded Redis stopped" in err
    assert not (data / "redis" / "redis.sock").exists()
    # the access log names route templates, never the ids, query strings or tokens
    access = [line for line in err.splitlines() if "route=" in line]
    assert any("method=GET route=/api/v1/tickets/{ticket_id} status=200" in line
               for line in access)
    assert any("route=/api/v1/tickets status=200" in line for line in access)
    assert not [line for line in access
                if tid in line or "channel=email" in line or integration in line]


def _ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return resp.status == 200
    except OSError:
        return False


@pytest.mark.slow
def test_a_worker_killed_mid_batch_loses_and_duplicates_nothing(
        wait_for: Any, redis_url: str, prefix: str, tmp_path: Path) -> None:
    r = redis.Redis.from_url(redis_url)
    keys = Keys(prefix)
    total = 1500
    now = datetime.now(UTC)
    pipe = r.pipeline(transaction=False)
    ids = []
    for i in range(total):
        m = InboundMessage(channel=Channel.API, account="default", external_id=f"k{i}",
                           sender=Sender((Identity(IdentityKind.EMAIL, f"u{i % 300}@x.cn"),)),
                           received_at=now, text=f"订单 DD{100000 + i} 还没到 where is it",
                           thread_key=f"thread-{i % 700}")
        ids.append(m.id)
        pipe.xadd(keys.ingest, {"id": m.id, "m": encode(m)})
    pipe.execute()
    conf = tmp_path / "conf.yaml"
    conf.write_text(f'redis_prefix: "{prefix}"\nworkers: {{batch: 100, block_ms: 50, '
                    f'claim_idle_ms: 1000}}\n')
    env = {**os.environ, "DESKGATE_REDIS_URL": redis_url}
    argv = [*CLI, "worker", "--config", str(conf), "--data-dir", str(tmp_path)]
    victim = subprocess.Popen(argv, env=env, stderr=subprocess.DEVNULL)
    wait_for(lambda: r.zcard(keys.tickets) > 0, 60, "the first worker to start ticketing")
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    done_before = sum(1 for mid in ids if r.hexists(keys.msg(mid), "ticket"))
    pending = r.xpending(keys.ingest, "triage")["pending"]
    assert done_before < total, "the worker finished everything before it was killed"
    heir = subprocess.Popen(argv, env=env, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: all(r.hexists(keys.msg(mid), "ticket") for mid in ids), 120,
              "every message to be ticketed")
        wait_for(lambda: r.xpending(keys.ingest, "triage")["pending"] == 0, 30,
              "every entry to be acknowledged")
    finally:
        heir.send_signal(signal.SIGTERM)
        _, err = heir.communicate(timeout=30)
    per_ticket = [r.lrange(keys.ticket_msgs(t.decode()), 0, -1)
                  for t in r.zrange(keys.tickets, 0, -1)]
    placed = [m.decode() for msgs in per_ticket for m in msgs]
    assert sorted(placed) == sorted(ids), "each message on exactly one ticket, none lost"
    assert len(per_ticket) == 700, "one ticket per conversation"
    if pending:
        assert "took over" in err


@pytest.mark.slow
def test_serve_restarts_a_killed_worker_which_finishes_its_batch(
        tmp_path: Path, free_port: Any, wait_for: Any) -> None:
    """The replacement takes over the dead worker's consumer name: its unacknowledged entries
    are finished at once. claim_idle_ms is ten minutes here, so XAUTOCLAIM cannot be what
    recovers them within this test's time."""
    import psutil

    env = {k: v for k, v in os.environ.items() if k != "DESKGATE_REDIS_URL"}
    data = tmp_path / "data"
    conf = tmp_path / "conf.yaml"
    conf.write_text("workers: {batch: 50, block_ms: 50, claim_idle_ms: 600000}\n")
    serve = subprocess.Popen([*CLI, "serve", "--port", str(free_port()), "--data-dir",
                              str(data), "--config", str(conf), "--job-workers", "0",
                              "--no-smtp"],
                             env=env, stderr=subprocess.PIPE, text=True)
    try:
        sock = data / "redis" / "redis.sock"
        wait_for(lambda: sock.exists(), 60, "the embedded Redis")
        r = redis.Redis(unix_socket_path=str(sock))
        keys = Keys()
        wait_for(lambda: r.exists(keys.ingest) and r.xinfo_groups(keys.ingest), 60,
              "the worker's consumer group")
        now = datetime.now(UTC)
        ids = []
        pipe = r.pipeline(transaction=False)
        for i in range(1200):
            m = InboundMessage(channel=Channel.API, account="default", external_id=f"s{i}",
                               sender=Sender((Identity(IdentityKind.EMAIL, f"v{i}@x.cn"),)),
                               received_at=now, text=f"where is order DD{200000 + i}",
                               thread_key=f"s{i}")
            ids.append(m.id)
            pipe.xadd(keys.ingest, {"id": m.id, "m": encode(m)})
        pipe.execute()
        wait_for(lambda: r.zcard(keys.tickets) > 0, 60, "the worker to start ticketing")
        [worker] = [p for p in psutil.Process(serve.pid).children()
                    if "worker" in p.cmdline()]
        worker.kill()
        assert r.zcard(keys.tickets) < len(ids), "the worker finished before it was killed"
        wait_for(lambda: r.zcard(keys.tickets) == len(ids), 90, "every message to be ticketed")
        # the last batch is stored before it is acknowledged: wait for the XACK too
        wait_for(lambda: r.xpending(keys.ingest, "triage")["pending"] == 0, 30,
              "every entry to be acknowledged")
        assert sorted(m.decode() for t in r.zrange(keys.tickets, 0, -1)
                      for m in r.lrange(keys.ticket_msgs(t.decode()), 0, -1)) == sorted(ids)
    finally:
        serve.send_signal(signal.SIGTERM)
        _, err = serve.communicate(timeout=60)
    assert "restarting it" in err
