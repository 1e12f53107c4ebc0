"""Triage throughput and latency on short mixed Chinese/English support messages.

    .venv/bin/python bench/triage.py [--n 20000] [--batch 256]

Measures, in this one process: model load time (packaged defaults, including building the
spaCy pipelines and jieba's dictionary), batched msgs/s, single-message latency p50/p99, and
RSS with everything loaded. Prints each figure next to its target.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

import psutil

TARGETS = {"msgs_per_s": 3000.0, "p99_ms": 10.0, "rss_mb": 500.0, "load_s": 2.0}

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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--single", type=int, default=2000, help="single-message calls for latency")
    args = ap.parse_args()

    from deskgate.models.triage import TriageInput

    started = time.perf_counter()
    from deskgate.triage.engine import Triager

    imported = time.perf_counter() - started
    triager = Triager.load()
    load_s = triager.load_seconds
    inputs = [TriageInput(text=t) for t in messages(args.n)]

    triager.triage(inputs[:256])  # warm caches the way a worker's first batch does
    started, cpu_started = time.perf_counter(), time.process_time()
    for i in range(0, len(inputs), args.batch):
        triager.triage(inputs[i : i + args.batch])
    rate = len(inputs) / (time.perf_counter() - started)
    cpu_rate = len(inputs) / (time.process_time() - cpu_started)

    lat, cpu_lat = [], []
    for item in inputs[: args.single]:
        t0, c0 = time.perf_counter(), time.process_time()
        triager.triage([item])
        lat.append((time.perf_counter() - t0) * 1000)
        cpu_lat.append((time.process_time() - c0) * 1000)
    lat.sort()
    cpu_lat.sort()
    p50 = statistics.median(lat)
    p99 = lat[int(len(lat) * 0.99) - 1]
    cpu_p99 = cpu_lat[int(len(cpu_lat) * 0.99) - 1]
    rss = psutil.Process().memory_info().rss / 2**20

    def row(name: str, value: float, target: float, unit: str, higher_better: bool) -> None:
        ok = value >= target if higher_better else value <= target
        sign = "≥" if higher_better else "<"
        print(f"{name:34s} {value:10.2f} {unit:7s} target {sign} {target:g} {unit:7s} {'OK' if ok else 'MISSED'}")

    print(f"model version {triager.version}; {args.n} messages, batch {args.batch}, "
          f"{psutil.cpu_count()} CPUs")
    print(f"{'import spaCy/sklearn/engine (not counted)':34s} {imported:10.2f} s")
    row("model load (pipelines + models)", load_s, TARGETS["load_s"], "s", False)
    row("batched throughput (wall clock)", rate, TARGETS["msgs_per_s"], "msgs/s", True)
    # The machines are shared: per CPU-second is what one worker process gets on a free core.
    row("batched throughput (per CPU-second)", cpu_rate, TARGETS["msgs_per_s"], "msgs/s", True)
    print(f"{'CPU ms per message (batched)':34s} {1000 / cpu_rate:10.3f} ms")
    print(f"{'load average (1 min) during run':34s} {psutil.getloadavg()[0]:10.2f}")
    print(f"{'single message p50':34s} {p50:10.2f} ms")
    row("single message p99 (wall clock)", p99, TARGETS["p99_ms"], "ms", False)
    row("single message p99 (CPU time)", cpu_p99, TARGETS["p99_ms"], "ms", False)
    row("RSS with all models loaded", rss, TARGETS["rss_mb"], "MB", False)


if __name__ == "__main__":
    main()
