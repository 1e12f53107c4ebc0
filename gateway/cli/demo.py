"""`deskgate demo`: post a realistic mixed Chinese/English set of customer messages to a running
Deskgate and print where each one was routed, with its triage."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp

from deskgate.gateway.cli.common import add_common, sync_redis
from deskgate.models.enums import Role
from deskgate.models.ticket import Agent
from deskgate.queue import connection
from deskgate.queue.keys import Keys
from deskgate.queue.tokens import create_token
from deskgate.queue.work import Work

WAIT_SECONDS = 30.0


def demo_messages() -> list[dict[str, Any]]:
    return json.loads((Path(__file__).parent / "data" / "demo_messages.json").read_text(
        encoding="utf-8"))


async def post_demo(url: str, integration: str, manager: str, *, run: str = "") -> int:
    """Post the demo set and print each ticket's routing. A fixed `run` makes re-posting a
    no-op (the same external ids are recognised as duplicates)."""
    run = run or uuid.uuid4().hex[:8]
    headers = {"Authorization": f"Bearer {integration}"}
    read_headers = {"Authorization": f"Bearer {manager}"}
    async with aiohttp.ClientSession(base_url=url) as http:
        ids = []
        for i, m in enumerate(demo_messages()):
            body = {**m, "external_id": f"demo-{run}-{i}"}
            async with http.post("/api/v1/messages", json=body, headers=headers) as resp:
                reply = await resp.json()
                if resp.status not in (200, 202):
                    print(f"deskgate demo: {resp.status} {reply}", file=sys.stderr)
                    return 1
                ids.append(reply["id"])
        print(f"posted {len(ids)} messages to {url}; waiting for triage …", file=sys.stderr)
        deadline = time.monotonic() + WAIT_SECONDS
        rows: dict[str, dict[str, Any]] = {}
        while len(rows) < len(ids) and time.monotonic() < deadline:
            for mid in ids:
                if mid in rows:
                    continue
                async with http.get(f"/api/v1/messages/{mid}", headers=read_headers) as resp:
                    state = await resp.json()
                if state.get("ticket_id"):
                    async with http.get(f"/api/v1/tickets/{state['ticket_id']}",
                                        headers=read_headers) as resp:
                        rows[mid] = await resp.json()
            await asyncio.sleep(0.3)
    print(f"{'TICKET':<9} {'SKILL':<10} {'TOPIC':<16} {'PRI':<4} {'SENTIMENT':<9} {'LANG':<4} "
          f"{'RISK':<5} TEXT")
    for mid, m in zip(ids, demo_messages(), strict=True):
        t = rows.get(mid)
        if t is None:
            print(f"{'-':<9} not triaged within {WAIT_SECONDS:.0f}s: is a worker running?")
            continue
        tr = t.get("triage") or {}
        risk = "HIGH" if tr.get("risk", {}).get("high") else "-"
        snippet = m["text"].replace("\n", " ")[:38]
        print(f"{t['id']:<9} {t['skill']:<10} {tr.get('topic', '?'):<16} {t['priority']:<4} "
              f"{tr.get('sentiment', '?'):<9} {tr.get('language', '?'):<4} {risk:<5} {snippet}")
    return 0 if len(rows) == len(ids) else 1


DEMO_AGENTS = (
    Agent(id="ann", name="Ann 安", skills={"general": 3, "triage": 3, "logistics": 2,
                                          "billing": 2}, languages=("zh", "en"), capacity=5),
    Agent(id="bo", name="Bo 博", skills={"tech": 3, "care": 3, "general": 1},
          languages=("en", "zh"), capacity=3),
)


async def seed_demo(redis_url: str, keys: Keys) -> dict[str, str]:
    """Demo agents and one token per role, for trying the console and the API at once."""
    client = connection.async_client(redis_url)
    work = Work(client, keys)
    for agent in DEMO_AGENTS:
        await work.put_agent(agent)
    await client.aclose()

    def tokens() -> dict[str, str]:
        sync = connection.sync_client(redis_url)
        made = {role.value: create_token(sync, keys, role, label="demo")[0]
                for role in (Role.ADMIN, Role.MANAGER, Role.INTEGRATION)}
        made["agent ann"] = create_token(sync, keys, Role.AGENT, agent_id="ann",
                                         label="demo")[0]
        sync.close()
        return made

    return await asyncio.to_thread(tokens)


def cmd_demo(args: argparse.Namespace) -> int:
    integration, manager = args.token, args.read_token
    if not (integration and manager):
        with sync_redis(args) as (client, keys):
            integration = integration or create_token(client, keys, Role.INTEGRATION,
                                                      label="demo")[0]
            manager = manager or create_token(client, keys, Role.MANAGER, label="demo")[0]
    return asyncio.run(post_demo(args.url.rstrip("/"), integration, manager))


def add_commands(sub: argparse._SubParsersAction) -> None:
    demo = sub.add_parser(
        "demo", help="post demo messages (zh + en) to a running instance and show the routing",
        description="Posts a mixed Chinese/English set of realistic customer messages to a "
                    "running `deskgate serve` and prints each ticket's skill and triage. "
                    "Without tokens it creates demo tokens in the instance's Redis.")
    demo.add_argument("--url", default="http://127.0.0.1:8080", help="the running instance")
    demo.add_argument("--token", default="", help="an integration token (default: create one)")
    demo.add_argument("--read-token", default="",
                      help="a manager token to read tickets back (default: create one)")
    add_common(demo)
    demo.set_defaults(func=cmd_demo)
