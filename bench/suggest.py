"""Suggestion speed and index memory at the target size: 200,000 resolved tickets and 5,000
articles in one gateway's indexes (gateway/knowledge.py), the suggestion path measured
in-process (the five similar tickets the caller may see, the five articles in the ticket's
language first, and the "why" of each; the Redis read of the five reply texts is not in it).

    .venv/bin/python bench/suggest.py [--tickets 200000] [--articles 5000] [--queries 1000]

Texts are real rows, not word salad: the English tickets of the multilingual support-ticket
set (subject + body; each with its answer), Chinese shop reviews (online_shopping_10_cats),
Banking77 questions and airline tweets, cycled to the size asked for; every third ticket
carries a made-up order number (订单 / order DD…), as real tickets do, which also grows the
vocabulary like real identifiers. Articles join 4-8 random rows under a title. Queries are
rows left out of the index. Targets: p99 < 20 ms per suggestion, index memory < 500 MB.
Memory is the gateway process's RSS growth while the indexes are built (Python objects
included), and the same per 100,000 tickets.

The build is the gateway's start: tickets and articles from their stored terms (analysed when
they were written; that cost is reported per article, measured once), the CPU seconds of the
build split into tickets and articles. `--from-text` builds the articles from their text
instead, as the gateway did before their terms were stored (the before figure).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import gc
import random
import sys
import time
from pathlib import Path

import psutil
import redis.asyncio as aioredis
from harness import Report, add_arguments, pct, self_cpu_seconds  # bench/ is sys.path[0]

from deskgate.gateway.knowledge import Knowledge, Place, index_articles
from deskgate.gateway.knowledge import analysed as analysed_article
from deskgate.models.article import Article, ArticleStatus, ArticleTerms, Locale
from deskgate.models.enums import Role
from deskgate.models.scope import Scope
from deskgate.queue.keys import Keys
from deskgate.triage.retrieval import analyze, terms

ROOT = Path(__file__).resolve().parent.parent


def _rows(path: Path, *cols: str) -> list[str]:
    csv.field_size_limit(1 << 24)
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return [" ".join((r.get(c) or "") for c in cols).replace("\ufeff", "").strip()
                for r in csv.DictReader(fh)]


def corpus(datasets: Path) -> list[str]:
    texts: list[str] = []
    for f in sorted((datasets / "en/tickets_synthetic").glob("*.csv")):
        with f.open(encoding="utf-8", newline="") as fh:
            texts += [f"{r['subject']}\n{r['body']}"[:1500] for r in csv.DictReader(fh)
                      if r.get("language") == "en" and r.get("body")]
    texts += _rows(datasets / "zh/online_shopping_10_cats.csv", "review")
    texts += _rows(datasets / "en/banking77_train.csv", "text")
    texts += _rows(datasets / "en/airline_tweets.csv", "text")
    texts = [t for t in dict.fromkeys(texts) if len(t) >= 8]
    random.Random(7).shuffle(texts)
    return texts


def analysed(texts: list[str]) -> tuple[list[list[str]], float]:
    """Each row's terms, as a resolve stores them in its record, and the CPU ms per row."""
    cpu0 = self_cpu_seconds()
    out = [terms(t) for t in texts]
    return out, (self_cpu_seconds() - cpu0) * 1000 / len(texts)


def _with_order(row: list[str], rng: random.Random, n: int) -> list[str]:
    if n % 3:
        return row
    return [rng.choice(("订单", "order")), f"dd2026{rng.randrange(10**8):08d}", *row]


def make_articles(texts: list[str], n_articles: int) -> list[Article]:
    """Articles join 4-8 random rows under a title."""
    rng = random.Random(11)
    articles = []
    for j in range(n_articles):
        parts = [texts[rng.randrange(len(texts))] for _ in range(rng.randint(4, 8))]
        articles.append(Article(id=f"kb-{j}", title=parts[0][:60], body="\n\n".join(parts),
                                locale=Locale.ZH if j % 2 else Locale.EN,
                                status=ArticleStatus.PUBLISHED if j % 10 else ArticleStatus.DRAFT))
    return articles


def build(rows: list[list[str]], n_tickets: int, articles: list[Article],
          stored: dict[str, ArticleTerms],
          from_text: bool) -> tuple[Knowledge, float, float, float]:
    """The indexes as a gateway builds them at start: tickets from their stored terms,
    articles from theirs (or from their text). Returns the index, wall seconds, CPU seconds of
    the tickets and of the articles."""
    rng = random.Random(11)
    t0, cpu0 = time.perf_counter(), self_cpu_seconds()
    # a client that never connects: the measured path reads no Redis
    kb = Knowledge(aioredis.Redis(), Keys(), max_tickets=n_tickets)
    skills = ("general", "billing", "logistics", "tech")
    for i in range(n_tickets):
        kb.ticket_index.add_terms(f"DG-{i}", _with_order(rows[i % len(rows)], rng, i))
    kb.ticket_index.flush()
    kb.places = {f"DG-{i}": Place(f"{i}-0", skills[i % 4], f"agent{i % 40}",
                                  "zh" if i % 2 else "en") for i in range(n_tickets)}
    cpu1 = self_cpu_seconds()
    if from_text:
        kb.article_index.add_many((a.id, a.search_text()) for a in articles)
    else:
        assert not index_articles(kb.article_index, articles, stored)
    kb.by_id = {a.id: a for a in articles}
    seconds, cpu2 = time.perf_counter() - t0, self_cpu_seconds()
    return kb, seconds, cpu1 - cpu0, cpu2 - cpu1


async def probed(*args: object) -> tuple[tuple[Knowledge, float, float, float], list[float]]:
    """The build in a thread, as the gateway runs it, while the event loop asks for a 5 ms
    sleep again and again: how late each wake-up is, is what a request (/healthz) waits
    meanwhile for the GIL."""
    task = asyncio.ensure_future(asyncio.to_thread(build, *args))   # type: ignore[arg-type]
    lags = []
    while not task.done():
        t0 = time.perf_counter()
        await asyncio.sleep(0.005)
        lags.append((time.perf_counter() - t0 - 0.005) * 1000)
    return await task, lags


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--datasets", type=Path, default=ROOT.parent / "shared" / "datasets")
    ap.add_argument("--tickets", type=int, default=200_000)
    ap.add_argument("--articles", type=int, default=5_000)
    ap.add_argument("--queries", type=int, default=1_000)
    ap.add_argument("--from-text", action="store_true",
                    help="build the articles from their text (before their terms were stored)")
    add_arguments(ap)
    args = ap.parse_args(argv)
    texts = corpus(args.datasets)
    queries = texts[-args.queries:]
    texts = texts[:-args.queries]
    terms("预热 warm up")        # jieba's dictionary: the gateway has it loaded already (triage)
    rows, analyse_ms = analysed(texts)
    articles = make_articles(texts, args.articles)
    cpu0 = self_cpu_seconds()
    stored = {a.id: analysed_article(a) for a in articles}
    article_ms = (self_cpu_seconds() - cpu0) * 1000 / max(1, len(articles))
    report = Report("suggest", args, notes=[
        f"{args.tickets:,} resolved tickets, {args.articles:,} articles, {args.queries:,} "
        f"queries per run, from {len(texts):,} distinct real rows; an agent's scope (2 of 4 "
        f"skills) filters the tickets; articles built from "
        f"{'their text' if args.from_text else 'stored terms'}"])
    agent = Scope(actor="a1", role=Role.AGENT, agent_id="a1",
                  skills=frozenset({"general", "billing"}))
    for _ in range(args.runs):
        gc.collect()
        rss0 = psutil.Process().memory_info().rss
        (kb, build_s, tickets_cpu, articles_cpu), lags = asyncio.run(
            probed(rows, args.tickets, articles, stored, args.from_text))
        gc.collect()
        rss_mb = (psutil.Process().memory_info().rss - rss0) / 2**20
        times, cpu_times = [], []
        cpu0 = self_cpu_seconds()
        for q in queries:
            t0, c0 = time.perf_counter(), time.thread_time()
            query = analyze(q)
            similar = kb.suggest_tickets(query, agent, exclude="", k=5)
            found = kb.suggest_articles(query, "zh", 5)
            times.append((time.perf_counter() - t0) * 1000)
            cpu_times.append((time.thread_time() - c0) * 1000)
            assert len(similar) <= 5 and len(found) <= 5
        cpu_ms = (self_cpu_seconds() - cpu0) * 1000 / len(queries)
        report.add_run({"p50_ms": pct(times, 0.50), "p99_ms": pct(times, 0.99),
                        "p99_cpu_ms": pct(cpu_times, 0.99),
                        "cpu_ms_per_suggestion": cpu_ms, "analyse_cpu_ms_per_ticket": analyse_ms,
                        "analyse_cpu_ms_per_article": article_ms,
                        "build_s": build_s, "build_tickets_cpu_s": tickets_cpu,
                        "build_articles_cpu_s": articles_cpu,
                        "loop_lag_p99_ms": pct(lags, 0.99), "loop_lag_max_ms": max(lags),
                        "index_rss_mb": rss_mb,
                        "rss_mb_per_100k_tickets": rss_mb * 100_000 / args.tickets,
                        "matrix_mb": (kb.ticket_index.memory_bytes()
                                      + kb.article_index.memory_bytes()) / 2**20})
        del kb
    report.label("p99_ms", "suggestion p99 (ms)")
    report.label("p50_ms", "suggestion p50 (ms)")
    report.label("cpu_ms_per_suggestion", "CPU ms per suggestion")
    report.label("p99_cpu_ms", "suggestion p99, CPU ms (load-independent)")
    report.label("analyse_cpu_ms_per_ticket", "CPU ms to analyse a resolved ticket")
    report.label("analyse_cpu_ms_per_article", "CPU ms to analyse an article (at its write)")
    report.label("build_s", "index build at start (s)")
    report.label("build_tickets_cpu_s", "of it CPU s: tickets from stored terms")
    report.label("build_articles_cpu_s", "of it CPU s: articles")
    report.label("loop_lag_p99_ms", "event-loop lag during the build, p99 (ms)")
    report.label("loop_lag_max_ms", "event-loop lag during the build, max (ms)")
    report.label("index_rss_mb", "index memory (RSS growth, MB)")
    report.label("rss_mb_per_100k_tickets", "RSS MB per 100k tickets")
    report.label("matrix_mb", "of it sparse matrices (MB)")
    report.target("p99_ms", "<", 20)
    report.target("index_rss_mb", "<", 500)
    return report.finish()


if __name__ == "__main__":
    sys.exit(main())
