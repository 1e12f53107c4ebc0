"""Sender benchmark: each provider sender (connectors/send/) against a local stand-in of its
API running in a separate process, over loopback HTTP, WeChat/WeCom tokens through a real
embedded Redis. Per sender: sends/s, latency p50/p99, and CPU ms per send of the sending
process (process CPU time: the figure machine noise barely moves) and of the stand-in.

It measures the sender's own cost — building the request, the HTTP client, reading and
mapping the answer, the access-token look-up — which the sender worker adds to the outbox's
per-reply cost (bench/outbound.py measures the whole path). With --files N every reply also
carries N images of --file-kb KB from a blob store (uploads, one message per file, the
reply's progress in Redis; LINE and Twilio sign links instead): CPU ms are then per reply.

Run: .venv/bin/python bench/senders.py [--seconds 5] [--concurrency 32] [--files 2]
Bounded: each sender runs --seconds; only 127.0.0.1 and a unix socket are contacted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import psutil
import redis.asyncio as aioredis

from deskgate.connectors.registry import CONNECTORS
from deskgate.connectors.send.providers import PROVIDER_SENDERS
from deskgate.gateway.mail.blobs import BlobStore
from deskgate.gateway.reply_files import ReplyFiles
from deskgate.models.enums import Channel
from deskgate.models.outbound import OutboundAttachment, OutboundMessage, Recipient
from deskgate.queue.access_tokens import RedisAccessTokens
from deskgate.queue.keys import Keys
from deskgate.queue.redis_server import EmbeddedRedis
from deskgate.queue.reply_parts import ReplyParts

# one core's worth of sends leaves room for the outbox at the 500 replies/s
TARGETS = {"sender_cpu_ms": 1.0, "sends_per_s": 500}

STANDIN = r'''
import json, sys
from aiohttp import web
ok = lambda body, status=200: web.Response(status=status, body=json.dumps(body).encode(),
                                            content_type="application/json")
n = [0]
def nid():
    n[0] += 1
    return n[0]
async def meta(r): await r.read(); return ok({"messages": [{"id": f"wamid.{nid()}"}], "message_id": f"m_{n[0]}"})
async def tg(r): await r.read(); return ok({"ok": True, "result": {"message_id": nid()}})
async def token(r): return ok({"errcode": 0, "access_token": "T", "expires_in": 7200})
async def tencent(r): await r.read(); return ok({"errcode": 0, "errmsg": "ok", "msgid": str(nid())})
async def twilio(r): await r.read(); return ok({"sid": f"SM{nid():032d}", "status": "queued"}, 201)
async def line(r): await r.read(); return ok({"sentMessages": [{"id": str(nid())}]})
app = web.Application()
app.router.add_post("/me/messages", meta)
app.router.add_post("/{phone}/messages", meta)
app.router.add_post("/bot{token}/sendMessage", tg)
app.router.add_get("/cgi-bin/token", token)
app.router.add_get("/cgi-bin/gettoken", token)
app.router.add_post("/cgi-bin/message/custom/send", tencent)
app.router.add_post("/cgi-bin/kf/send_msg", tencent)
app.router.add_post("/2010-04-01/Accounts/{sid}/Messages.json", twilio)
app.router.add_post("/v2/bot/message/push", line)
async def media(r): await r.read(); return ok({"id": f"media.{nid()}"})
async def upload(r): await r.read(); return ok({"errcode": 0, "type": "image", "media_id": f"M{nid()}"})
app.router.add_post("/{phone}/media", media)
app.router.add_post("/bot{token}/sendPhoto", tg)
app.router.add_post("/bot{token}/sendDocument", tg)
app.router.add_post("/cgi-bin/media/upload", upload)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)
'''


def settings(name: str, base: str) -> Any:
    common = {"api_base": base}
    raw = {
        "whatsapp": {"app_secret": "a" * 32, "verify_token": "v", "access_token": "T",
                     "phone_number_id": "1065"},
        "messenger": {"app_secret": "a" * 32, "verify_token": "v", "access_token": "T"},
        "instagram": {"app_secret": "a" * 32, "verify_token": "v", "access_token": "T"},
        "telegram": {"secret_token": "s" * 20, "bot_token": "1:T"},
        "wechat": {"token": "t", "app_id": "wx1", "app_secret": "S"},
        "wecom": {"token": "t", "corp_id": "ww1", "kf_secret": "S", "open_kfid": "wk1",
                  "encoding_aes_key": "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"},
        "twilio": {"auth_token": "f" * 32, "account_sid": "AC" + "0" * 32,
                   "from_number": "+15557122661"},
        "line": {"channel_secret": "c" * 32, "channel_access_token": "T"},
    }[name]
    return CONNECTORS[name].settings(raw | common)


CHANNEL = {"whatsapp": Channel.WHATSAPP, "messenger": Channel.MESSENGER,
           "instagram": Channel.INSTAGRAM, "telegram": Channel.TELEGRAM,
           "wechat": Channel.WECHAT, "wecom": Channel.WECOM, "twilio": Channel.SMS,
           "line": Channel.LINE}


async def run_one(name: str, base: str, tokens: RedisAccessTokens, seconds: float,
                  concurrency: int, standin: psutil.Process, files: ReplyFiles,
                  attachments: tuple[OutboundAttachment, ...]) -> dict[str, float]:
    sender, conf = PROVIDER_SENDERS[name], settings(name, base)
    me = psutil.Process()
    latencies: list[float] = []
    counter = iter(range(10**9))
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
        deadline = time.monotonic() + seconds

        async def worker() -> None:
            while time.monotonic() < deadline:
                i = next(counter)
                msg = OutboundMessage(
                    reply_id=f"r-{name}-{i}", ticket_id="T1",
                    recipient=Recipient(CHANNEL[name], "bench", "8613800138000"),
                    text="您好，您的订单已发货 / your order has shipped", author="bench",
                    created_at=datetime.now(UTC), attachments=attachments)
                t0 = time.perf_counter()
                await sender.send(msg, conf, http, tokens, files)
                latencies.append(time.perf_counter() - t0)

        cpu0, other0, t0 = sum(me.cpu_times()[:2]), sum(standin.cpu_times()[:2]), \
            time.monotonic()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.monotonic() - t0
        cpu, other = sum(me.cpu_times()[:2]) - cpu0, sum(standin.cpu_times()[:2]) - other0
    latencies.sort()
    n = len(latencies)
    return {"sends": n, "per_s": n / elapsed, "p50_ms": latencies[n // 2] * 1e3,
            "p99_ms": latencies[min(n - 1, int(n * 0.99))] * 1e3,
            "cpu_ms": cpu * 1e3 / n, "standin_cpu_ms": other * 1e3 / n}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=5.0, help="per sender (default 5)")
    ap.add_argument("--concurrency", type=int, default=32, help="sends in flight (default 32)")
    ap.add_argument("--only", nargs="*", default=list(PROVIDER_SENDERS),
                    help="senders to run (default: all)")
    ap.add_argument("--files", type=int, default=0, help="images per reply (default 0)")
    ap.add_argument("--file-kb", type=int, default=100, help="size of each image (default 100)")
    args = ap.parse_args()
    print(f"load average {os.getloadavg()}, {os.cpu_count()} cores; "
          f"targets: {TARGETS}; {args.files} file(s) of {args.file_kb} KB per reply")
    with tempfile.TemporaryDirectory() as tmp:
        redis_server = EmbeddedRedis(Path(tmp))
        redis_server.start()
        port = free_port()
        proc = subprocess.Popen([sys.executable, "-c", STANDIN, str(port)])
        client = aioredis.Redis.from_url(redis_server.url)
        try:
            base = f"http://127.0.0.1:{port}"
            for _ in range(100):
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=0.1):
                        break
                except OSError:
                    await asyncio.sleep(0.05)
            tokens = RedisAccessTokens(client, Keys("bench:"))
            blobs = BlobStore(Path(tmp), fsync_each=False)
            image = b"\xff\xd8\xff" + os.urandom(args.file_kb * 1024 - 3)
            attachments = tuple(OutboundAttachment(f"photo-{i}.jpg", "image/jpeg", len(image),
                                                   blobs.put(image))
                                for i in range(args.files))
            files = ReplyFiles(blobs, ReplyParts(client, Keys("bench:")),
                               "https://desk.example.com")
            print(f"{'sender':<10} {'sends':>7} {'sends/s':>8} {'p50 ms':>7} {'p99 ms':>7} "
                  f"{'CPU ms/send':>11} {'stand-in CPU ms':>15}")
            for name in args.only:
                r = await run_one(name, base, tokens, args.seconds, args.concurrency,
                                  psutil.Process(proc.pid), files, attachments)
                flag = "" if r["cpu_ms"] <= TARGETS["sender_cpu_ms"] else "  (over target)"
                print(f"{name:<10} {r['sends']:>7.0f} {r['per_s']:>8.0f} {r['p50_ms']:>7.1f} "
                      f"{r['p99_ms']:>7.1f} {r['cpu_ms']:>11.3f} {r['standin_cpu_ms']:>15.3f}"
                      f"{flag}")
        finally:
            await client.aclose()
            proc.terminate()
            proc.wait()
            redis_server.stop()


if __name__ == "__main__":
    asyncio.run(main())
