"""Webhook benchmark, two parts:

  1. verify + parse cost of each connector on its provider fixture (one core, in process):
     deliveries/s per channel, real signatures checked every time;
  2. the webhook route over loopback HTTP against a separate gateway process with its own
     embedded Redis: signed WhatsApp deliveries (every one a new wamid), accepted/s and
     ack latency p50/p99 — the provider-facing number (WeChat gives up after 5 s).

Run: .venv/bin/python bench/webhooks.py [--seconds 5] [--concurrency 32] [--runs 3] [--json]
Bounded: each phase stops after --seconds; only 127.0.0.1 is contacted.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hmac
import json
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode

import aiohttp
import harness
from harness import CpuMeter, ProcessTree, Report, pct

from deskgate.connectors.base import WebhookRequest
from deskgate.connectors.registry import CONNECTORS
from deskgate.connectors.wechat_crypto import aes_key, encrypt, sha1_signature

TARGETS = {"connector_per_s": 5000, "http_accepted_per_s": 2000, "http_ack_p99_ms": 100,
           "server_cpu_us": 400}
FIX = Path(__file__).resolve().parent.parent / "tests" / "fixtures"
SECRET = "bench-secret-0123456789abcdef"
AES = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
META_SETTINGS = {"app_secret": SECRET, "verify_token": "v"}


def _hmac(algo: str, body: bytes, prefix: bytes = b"") -> str:
    return hmac.new(SECRET.encode(), prefix + body, algo).hexdigest()


def cases() -> dict[str, tuple[dict, WebhookRequest]]:
    """One signed provider request per channel, built from the test fixtures."""
    now = datetime.now(UTC)
    ts = str(int(time.time()))

    def req(body: bytes, headers: dict[str, str] | None = None,
            query: dict[str, str] | None = None, url: str = "https://x/h") -> WebhookRequest:
        return WebhookRequest(method="POST", url=url, query=query or {},
                              headers={k.lower(): v for k, v in (headers or {}).items()},
                              body=body, received_at=now)

    def fix(channel: str, name: str) -> bytes:
        return (FIX / channel / name).read_bytes()

    meta = {"X-Hub-Signature-256": ""}
    out: dict[str, tuple[dict, WebhookRequest]] = {}
    for ch, name in (("whatsapp", "image_zh.json"), ("messenger", "attachment.json"),
                     ("instagram", "text.json")):
        body = fix(ch, name)
        meta["X-Hub-Signature-256"] = "sha256=" + _hmac("sha256", body)
        out[ch] = (META_SETTINGS, req(body, dict(meta)))
    body = fix("telegram", "photo_caption.json")
    out["telegram"] = ({"secret_token": SECRET},
                       req(body, {"X-Telegram-Bot-Api-Secret-Token": SECRET}))
    body = fix("wechat", "text_zh.xml")
    out["wechat"] = ({"token": SECRET}, req(body, query={
        "signature": sha1_signature(SECRET, ts, "n"), "timestamp": ts, "nonce": "n"}))
    enc = encrypt(aes_key(AES), "ww1", fix("wecom", "text.xml"))
    body = f"<xml><ToUserName>ww1</ToUserName><Encrypt>{enc}</Encrypt></xml>".encode()
    out["wecom"] = ({"token": SECRET, "corp_id": "ww1", "encoding_aes_key": AES},
                    req(body, query={"msg_signature": sha1_signature(SECRET, ts, "n", enc),
                                     "timestamp": ts, "nonce": "n"}))
    params = json.loads(fix("twilio", "mms.json"))
    data = "https://x/h" + "".join(k + params[k] for k in sorted(params))
    sig = base64.b64encode(hmac.new(SECRET.encode(), data.encode(), "sha1").digest()).decode()
    out["twilio"] = ({"auth_token": SECRET},
                     req(urlencode(params).encode(), {"X-Twilio-Signature": sig}))
    for ch, name in (("webchat", ("webchat", "message.json")),
                     ("webform", ("webform", "contact.txt"))):
        body = fix(*name)
        out[ch] = ({"secret": SECRET, "media_hosts": ["uploads.shop.example.com"]}, req(body, {
            "X-Deskgate-Timestamp": ts,
            "X-Deskgate-Signature": "sha256=" + _hmac("sha256", body, f"{ts}.".encode())}))
    return out


def connector_rates(seconds: float) -> dict[str, float]:
    rates = {}
    for channel, (raw, request) in cases().items():
        connector = CONNECTORS[channel]
        settings = connector.settings(raw)
        assert connector.handle("bench", settings, request).messages  # a real, valid delivery
        n, t0 = 0, time.perf_counter()
        stop = t0 + seconds / 9
        while time.perf_counter() < stop:
            for _ in range(100):
                connector.handle("bench", settings, request)
            n += 100
        rates[channel] = n / (time.perf_counter() - t0)
    return rates


def serve(port: int, data: str) -> None:
    """The gateway process: embedded Redis + create_app, no workers (intake only)."""
    from aiohttp import web

    from deskgate.gateway.config import Config
    from deskgate.gateway.web.app import create_app
    from deskgate.queue.redis_server import EmbeddedRedis

    redis = EmbeddedRedis(Path(data))
    redis.start()
    config = Config(channels={"whatsapp": {"waba": META_SETTINGS}})
    try:
        web.run_app(create_app(config, redis.url, Path(data), run_workers=False),
                    host="127.0.0.1", port=port, print=None, access_log=None)
    finally:
        redis.stop()


async def http_phase(base: str, seconds: float, concurrency: int) -> dict[str, float]:
    template = (FIX / "whatsapp" / "text.json").read_text()
    old_id = "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA="
    latencies: list[float] = []

    async def loop(http: aiohttp.ClientSession, k: int, stop: float) -> int:
        n = 0
        while time.perf_counter() < stop:
            body = template.replace(old_id, f"wamid.bench-{k}-{n}").encode()
            headers = {"X-Hub-Signature-256": "sha256=" + _hmac("sha256", body),
                       "Content-Type": "application/json"}
            t0 = time.perf_counter()
            async with http.post("/webhooks/whatsapp/waba", data=body, headers=headers) as r:
                await r.read()
                if r.status != 200:
                    raise RuntimeError(f"unexpected {r.status}")
            latencies.append(time.perf_counter() - t0)
            n += 1
        return n

    conn = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(base_url=base, connector=conn) as http:
        warm = await loop(http, -1, time.perf_counter() + 0.5)
        latencies.clear()
        t0 = time.perf_counter()
        counts = await asyncio.gather(*(loop(http, k, t0 + seconds) for k in range(concurrency)))
        elapsed = time.perf_counter() - t0
    return {"accepted_per_s": sum(counts) / elapsed, "total": sum(counts) + warm,
            "p50_ms": pct(latencies, 0.5) * 1000, "p99_ms": pct(latencies, 0.99) * 1000}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--serve", nargs=2, metavar=("PORT", "DATA_DIR"), help=argparse.SUPPRESS)
    harness.add_arguments(ap)
    args = ap.parse_args()
    if args.serve:
        serve(int(args.serve[0]), args.serve[1])
        return 0
    report = Report("webhooks", args, notes=[
        f"HTTP part: a Python aiohttp client, {args.concurrency} connections, {args.seconds:g} s "
        "per run (it competes with the gateway for the cores: the gateway's CPU per delivery "
        "is the figure that carries)."])
    for _ in range(args.runs):
        report.add_run(one_run(args))
    for channel in CONNECTORS:
        report.target(f"{channel} verify_parse_per_s", ">=", TARGETS["connector_per_s"],
                      f"verify+parse deliveries/s: {channel}")
    report.target("http_accepted_per_s", ">=", TARGETS["http_accepted_per_s"],
                  "HTTP webhook accepted/s (whatsapp, durable)")
    report.target("cpu_ms_per_msg gateway", "<=", TARGETS["server_cpu_us"] / 1000,
                  "gateway CPU ms per delivery (excl. Redis)")
    report.label("http_ack_p50_ms", "HTTP ack latency p50 ms")
    report.target("http_ack_p99_ms", "<", TARGETS["http_ack_p99_ms"], "HTTP ack latency p99 ms")
    return report.finish()


def one_run(args: argparse.Namespace) -> dict[str, float]:
    fig = {f"{channel} verify_parse_per_s": rate
           for channel, rate in connector_rates(args.seconds).items()}
    with tempfile.TemporaryDirectory(prefix="dg-bench-hooks-") as tmp:
        port = harness.free_port()
        proc = subprocess.Popen([sys.executable, __file__, "--serve", str(port), tmp],
                                stderr=subprocess.DEVNULL)
        try:
            ready = harness.port_ready(port)
            for _ in range(300):
                if ready():
                    break
                time.sleep(0.1)
            # includes the 0.5 s warm-up's requests' share; the gateway's own CPU per delivery
            # is what capacity planning needs, independent of the client sharing the cores
            meter = CpuMeter(ProcessTree(proc.pid, root_role="gateway"))
            http = asyncio.run(http_phase(f"http://127.0.0.1:{port}", args.seconds,
                                          args.concurrency))
            fig.update(meter.per_message(http["total"]))
        finally:
            proc.terminate()
            proc.wait(30)
    fig.update({"http_accepted_per_s": http["accepted_per_s"], "http_ack_p50_ms": http["p50_ms"],
                "http_ack_p99_ms": http["p99_ms"]})
    return fig


if __name__ == "__main__":
    sys.exit(main())
