"""Triage throughput and latency on mixed Chinese/English support messages, with every packaged
model loaded (the risk model too, once the engine has one).

    .venv/bin/python bench/triage.py [--runs 3] [--n 20000] [--batch 256] [--emails 500]

Each run is a fresh process (so model load is measured cold, as a worker starts): model load
time (packaged defaults, spaCy pipelines, jieba's dictionary), batched msgs/s on short
messages, single-message latency p50/p99, RSS with everything loaded, and long emails (2-3 KB
bodies with quoted history and a signature) batched and one by one. CPU time is the process's
own (all threads), so "CPU ms per message" is what one worker pays whatever else the shared
machine runs. Prints (bench/harness.py) the commit, the load average before and after, and the
median and range over the runs next to each target; --json for the same as JSON.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import time

import harness
import psutil
from harness import Report, self_cpu_seconds

TARGETS = {"msgs_per_s": 3000.0, "p99_ms": 10.0, "rss_mb": 500.0, "load_s": 2.0,
           "email_cpu_ms": 2.0}

_ZH = ["我的订单{o}还没发货，什么时候能到？", "快递{t}三天没更新了，急！", "退款{m}还没到账", "APP一打开就闪退，{p}手机",
       "发票抬头写错了，能重开吗", "客服态度太差了，我要投诉", "这款{p}支持快充吗", "忘记密码了，收不到验证码",
       "垃圾商家，再也不买了", "谢谢，问题解决了"]
_EN = ["Where is my order {o}?", "Tracking {t} hasn't moved in days", "Still waiting for my refund of {m}",
       "The app crashes on my {p}", "I was charged twice, please fix ASAP", "Your support is useless, I'm calling my lawyer",
       "Does the {p} come in black?", "Can't log in, password reset email never arrives", "cancel my subscription now",
       "thanks for the quick help!"]
_MIX = ["订单{o} still not shipped, 怎么回事", "我的{p} screen is broken, 要退货", "refund {m} 什么时候到账?",
        "tracking {t} 显示已签收 but I got nothing"]


def messages(n: int, seed: int = 0) -> list[str]:
    rnd = random.Random(seed)
    out = []
    for _ in range(n):
        tpl = rnd.choice(rnd.choice((_ZH, _EN, _MIX)))
        out.append(tpl.format(
            o=f"#{rnd.randint(10000, 99999999)}", t=f"SF{rnd.randint(10**11, 10**12 - 1)}0",
            m=rnd.choice(("¥299", "$45.50", "1299元", "€80")),
            p=rnd.choice(("iPhone 15", "WH-1000XM4", "Mate60", "XPS-13")),
        ))
    return out


_EMAIL_ZH = ["您好，我在贵店购买的{p}出现了问题，订单号{o}。收到货以后第二天屏幕就开始闪烁，重启也没有用。",
             "我已经按照说明书上的步骤恢复了出厂设置，问题依旧。希望尽快安排换货或者退款，退款金额{m}。",
             "另外，快递{t}在路上耽误了五天，包装也有破损，这次购物体验很不好。请尽快回复处理方案。"]
_EMAIL_EN = ["Hello, I am writing about order {o}. The {p} I received last week stopped charging after two days.",
             "I have tried another cable and another outlet, and the problem is the same. The tracking number was {t}.",
             "I would like a replacement or a refund of {m}. Please let me know what you need from me to proceed."]


def email(rnd: random.Random) -> str:
    """A 2-3 KB customer email: a few paragraphs, a signature and quoted history."""
    paras = _EMAIL_ZH if rnd.random() < 0.5 else _EMAIL_EN
    fill = dict(o=f"#{rnd.randint(10000, 99999999)}", t=f"SF{rnd.randint(10**11, 10**12 - 1)}0",
                m=rnd.choice(("¥299", "$45.50", "1299元")), p=rnd.choice(("iPhone 15", "WH-1000XM4", "Mate60")))
    body = "\n\n".join(p.format(**fill) for p in paras * 3)
    quoted = "\n".join("> " + p.format(**fill) for p in paras * 2)
    text = (f"{body}\n\nBest regards,\nAlex Chen\nSenior Buyer, Example Trading Co.\nTel +86 138 0013 8000\n\n"
            f"On Mon, 3 Nov 2026 at 10:02, Support <support@example.com> wrote:\n{quoted}")
    while len(text.encode()) < 2048:
        text = body + "\n" + text
    return text[:3000] if len(text.encode()) > 3072 else text


def one_run(args: argparse.Namespace) -> dict[str, float]:
    from deskgate.models.triage import TriageInput

    started = time.perf_counter()
    from deskgate.triage.engine import Triager

    imported = time.perf_counter() - started
    triager = Triager.load()
    inputs = [TriageInput(text=t) for t in messages(args.n)]
    triager.triage(inputs[:256])  # warm caches the way a worker's first batch does

    started, cpu0 = time.perf_counter(), self_cpu_seconds()
    for i in range(0, len(inputs), args.batch):
        triager.triage(inputs[i : i + args.batch])
    wall, cpu = time.perf_counter() - started, self_cpu_seconds() - cpu0

    lat, cpu_lat = [], []
    for item in inputs[: args.single]:
        t0, c0 = time.perf_counter(), time.process_time()
        triager.triage([item])
        lat.append((time.perf_counter() - t0) * 1000)
        cpu_lat.append((time.process_time() - c0) * 1000)
    lat.sort()
    cpu_lat.sort()

    rnd = random.Random(1)
    emails = [TriageInput(text=email(rnd), subject="Re: 订单问题 / order problem") for _ in range(args.emails)]
    cpu0 = self_cpu_seconds()
    for i in range(0, len(emails), 64):
        triager.triage(emails[i : i + 64])
    email_batched = (self_cpu_seconds() - cpu0) / len(emails) * 1000
    cpu0 = self_cpu_seconds()
    for item in emails[:200]:
        triager.triage([item])
    email_single = (self_cpu_seconds() - cpu0) / min(200, len(emails)) * 1000
    return {
        "import_s": imported, "load_s": triager.load_seconds,
        "msgs_per_s": len(inputs) / wall, "msgs_per_cpu_s": len(inputs) / cpu,
        "cpu_ms_per_msg": cpu / len(inputs) * 1000,
        "p50_ms": statistics.median(lat), "p99_ms": lat[int(len(lat) * 0.99) - 1],
        "cpu_p99_ms": cpu_lat[int(len(cpu_lat) * 0.99) - 1],
        "rss_mb": psutil.Process().memory_info().rss / 2**20,
        "email_cpu_ms_batched": email_batched, "email_cpu_ms_single": email_single,
        "email_bytes": statistics.mean(len(e.text.encode()) for e in emails),
            }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=20000, help="short messages per run")
    ap.add_argument("--batch", type=int, default=256, help="batch size for the throughput figure")
    ap.add_argument("--single", type=int, default=2000, help="single-message calls for latency")
    ap.add_argument("--emails", type=int, default=500, help="long emails per run")
    ap.add_argument("--one-run", action="store_true", help=argparse.SUPPRESS)
    harness.add_arguments(ap)
    args = ap.parse_args()
    if args.one_run:
        print(json.dumps(one_run(args)))
        return 0

    report = Report("triage", args, notes=[
        f"{args.runs} runs (fresh processes, models loaded cold), {args.n} short mixed zh/en "
        f"messages, batch {args.batch}, {args.emails} emails of 2-3 KB. Wall-clock figures "
        "suffer from other work on the cores, CPU figures far less."])
    for _ in range(args.runs):
        proc = subprocess.run([sys.executable, __file__, "--one-run", "--n", str(args.n), "--batch",
                               str(args.batch), "--single", str(args.single), "--emails", str(args.emails)],
                              capture_output=True, text=True, check=True)
        report.add_run(json.loads(proc.stdout.strip().splitlines()[-1]))
    report.label("import_s", "import spaCy/engine s (not counted)")
    report.target("load_s", "<", TARGETS["load_s"], "model load s (pipelines + models)")
    report.target("msgs_per_s", ">=", TARGETS["msgs_per_s"], "batched msgs/s (wall clock)")
    # One worker on a free core gets this: the figure that does not depend on the neighbours.
    report.target("msgs_per_cpu_s", ">=", TARGETS["msgs_per_s"], "batched msgs per CPU-second")
    report.label("cpu_ms_per_msg", "CPU ms per short message, batched")
    report.label("p50_ms", "single message p50 ms (wall clock)")
    report.target("p99_ms", "<", TARGETS["p99_ms"], "single message p99 ms (wall clock)")
    # Wall-clock p99 on a machine at load 10+ is mostly waiting for a core; CPU p99 is ours.
    report.target("cpu_p99_ms", "<", TARGETS["p99_ms"], "single message p99 ms (CPU time)")
    report.target("rss_mb", "<", TARGETS["rss_mb"], "RSS MB with all models loaded")
    report.target("email_cpu_ms_batched", "<=", TARGETS["email_cpu_ms"],
                  "CPU ms per long email, batched (64)")
    report.target("email_cpu_ms_single", "<=", TARGETS["email_cpu_ms"],
                  "CPU ms per long email, one by one")
    report.label("email_bytes", "mean email body bytes")
    return report.finish()


if __name__ == "__main__":
    sys.exit(main())
