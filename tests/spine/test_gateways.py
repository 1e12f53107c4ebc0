"""`deskgate serve --gateways 2`: two gateway processes share the HTTP port (SO_REUSEPORT), both
answer, and a message posted to both (a provider's retry landing on the other process) is
accepted once, ticketed once: nothing lost, nothing duplicated."""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import psutil
import pytest
import redis

from deskgate.queue.keys import Keys

CLI = [sys.executable, "-m", "deskgate.gateway.cli.main"]
MESSAGES = 60
ACCESS = re.compile(r"deskgate\.access\[(\d+)\]: method=POST route=/api/v1/messages status=20[02]")


def _post(port: int, token: str, external_id: str) -> tuple[int, dict[str, Any]]:
    """One request on a new connection, so that the kernel picks a gateway for each."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        body = json.dumps({"external_id": external_id, "thread_key": external_id,
                           "sender": {"email": "wang@example.cn"},
                           "text": f"订单 DD{external_id[-6:]} 还没发货 where is it"})
        conn.request("POST", "/api/v1/messages", body=body,
                     headers={"Content-Type": "application/json",
                              "Authorization": f"Bearer {token}"})
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read() or b"{}")
    finally:
        conn.close()


@pytest.mark.slow
def test_two_gateway_processes_both_serve_and_lose_or_duplicate_nothing(
        tmp_path: Path, free_port: Any, wait_for: Any) -> None:
    env = {k: v for k, v in os.environ.items() if k != "DESKGATE_REDIS_URL"}
    data, port = tmp_path / "data", free_port()
    log = tmp_path / "serve.log"
    serve = subprocess.Popen([*CLI, "serve", "--port", str(port), "--data-dir", str(data),
                              "--gateways", "2", "--workers", "1", "--job-workers", "0",
                              "--no-smtp"], env=env, stderr=log.open("w"))
    try:
        def gateway_pids() -> set[int]:
            children = psutil.Process(serve.pid).children()
            return {serve.pid} | {c.pid for c in children if " gateway " in
                                  " ".join(c.cmdline()) + " "}

        wait_for(lambda: len(gateway_pids()) == 2 and
                 log.read_text().count("Deskgate is up") == 2, 90,
                 "both gateway processes to listen")
        token = subprocess.run([*CLI, "token", "create", "--role", "integration",
                                "--data-dir", str(data)], env=env, capture_output=True,
                               text=True, timeout=60, check=True).stdout.strip()
        ids: dict[str, str] = {}
        for i in range(MESSAGES):
            status, body = _post(port, token, f"gw-{i:06d}")
            assert status == 202, body
            ids[f"gw-{i:06d}"] = body["id"]
        # every message again: a provider's retry, on whichever process the kernel picks
        for external_id, mid in ids.items():
            status, body = _post(port, token, external_id)
            assert (status, body) == (200, {"id": mid, "duplicate": True}), external_id

        r = redis.Redis(unix_socket_path=str(data / "redis" / "redis.sock"))
        keys = Keys()
        wait_for(lambda: all(r.hexists(keys.msg(mid), "ticket") for mid in ids.values()), 120,
                 "the worker to ticket every message")
        assert r.xlen(keys.ingest) == MESSAGES, "each message entered the stream once"
        per_ticket = [r.lrange(keys.ticket_msgs(t.decode()), 0, -1)
                      for t in r.zrange(keys.tickets, 0, -1)]
        placed = sorted(m.decode() for msgs in per_ticket for m in msgs)
        assert placed == sorted(ids.values()), "each message on exactly one ticket"
        pids = gateway_pids()
    finally:
        serve.send_signal(signal.SIGTERM)
        serve.wait(60)
    text = log.read_text()
    answered_by = [int(m.group(1)) for m in ACCESS.finditer(text)]
    assert len(answered_by) == 2 * MESSAGES, "every request logged once, by the one that took it"
    assert set(answered_by) == pids, "both gateway processes answered requests"
    assert "exited with" not in text, "no process died and was restarted"
