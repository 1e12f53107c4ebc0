"""`deskgate token …` and `deskgate agent …`: the admin's one-shot commands."""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, datetime

from deskgate.gateway.cli.common import add_common, config, data_dir, id_arg, sync_redis
from deskgate.models.enums import AgentStatus, Role
from deskgate.models.ids import ACCOUNT, AGENT_ID, TOKEN_ID
from deskgate.models.ticket import Agent
from deskgate.queue import connection
from deskgate.queue.keys import Keys
from deskgate.queue.redis_server import redis_url_for
from deskgate.queue.tokens import create_token, list_tokens, revoke_token
from deskgate.queue.work import Work


def parse_skills(text: str) -> dict[str, int]:
    """"billing,tech:3" -> {"billing": 1, "tech": 3} (level 1-5, default 1)."""
    skills: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, level = part.partition(":")
        try:
            lvl = int(level) if level else 1
        except ValueError:
            raise argparse.ArgumentTypeError(f"skill level must be 1-5 in {part!r}") from None
        if not 1 <= lvl <= 5 or not name:
            raise argparse.ArgumentTypeError(f"bad skill {part!r}: use NAME or NAME:LEVEL (1-5)")
        skills[name] = lvl
    if not skills:
        raise argparse.ArgumentTypeError("give at least one skill, e.g. --skills billing,tech")
    return skills


def cmd_token_create(args: argparse.Namespace) -> int:

    role = Role(args.role)
    if role is Role.AGENT and not args.agent_id:
        print("deskgate: an agent token needs --agent-id", file=sys.stderr)
        return 2
    with sync_redis(args) as (client, keys):
        token, info = create_token(client, keys, role, agent_id=args.agent_id or "",
                                   label=args.label, account=args.account or "")
    print(token)
    print(f"# {info.role} token {info.token_id} created; it is shown only this once",
          file=sys.stderr)
    return 0


def cmd_token_list(args: argparse.Namespace) -> int:

    with sync_redis(args) as (client, keys):
        tokens = list_tokens(client, keys)
    print(f"{'ID':<13} {'ROLE':<12} {'AGENT/ACCOUNT':<16} {'CREATED':<20} LABEL")
    for t in tokens:
        created = datetime.fromtimestamp(t.created_at, UTC).strftime("%Y-%m-%d %H:%M")
        bound = t.agent_id or t.account or "-"
        print(f"{t.token_id:<13} {t.role:<12} {bound:<16} {created:<20} {t.label}")
    return 0


def cmd_token_revoke(args: argparse.Namespace) -> int:

    with sync_redis(args) as (client, keys):
        ok = revoke_token(client, keys, args.token_id)
    print("revoked" if ok else f"no token with id {args.token_id}", file=sys.stderr)
    return 0 if ok else 1


def cmd_agent_add(args: argparse.Namespace) -> int:

    agent = Agent(id=args.agent_id, name=args.name or args.agent_id, skills=args.skills,
                  languages=tuple(x for x in args.languages.split(",") if x),
                  capacity=args.capacity, status=AgentStatus(args.status), team=args.team)

    async def put(url: str) -> None:
        client = connection.async_client(url)
        await Work(client, Keys(config(args).redis_prefix)).put_agent(agent)
        await client.aclose()

    with redis_url_for(data_dir(args), config(args).redis_url) as url:
        asyncio.run(put(url))
    skills = ", ".join(f"{s}:{lvl}" for s, lvl in agent.skills.items())
    print(f"agent {agent.id}: skills {skills}; capacity {agent.capacity}; {agent.status}")
    return 0


def cmd_agent_list(args: argparse.Namespace) -> int:

    async def show(url: str) -> None:
        client = connection.async_client(url)
        w = Work(client, Keys(config(args).redis_prefix))
        print(f"{'AGENT':<16} {'STATUS':<8} {'LOAD':<6} SKILLS")
        for aid in await w.agent_ids():
            a = await w.get_agent(aid)
            if a:
                load = f"{len(await w.held_by(aid))}/{a.capacity}"
                print(f"{a.id:<16} {a.status:<8} {load:<6} "
                      + ", ".join(f"{s}:{lvl}" for s, lvl in a.skills.items()))
        await client.aclose()

    with redis_url_for(data_dir(args), config(args).redis_url) as url:
        asyncio.run(show(url))
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:

    token = sub.add_parser("token", help="create, list and revoke API tokens")
    tsub = token.add_subparsers(dest="token_command", metavar="ACTION", required=True)
    create = tsub.add_parser("create", help="print a new token (only its hash is stored)")
    create.add_argument("--role", required=True, choices=[r.value for r in Role],
                        help="what the token may do")
    create.add_argument("--agent-id", type=id_arg(AGENT_ID),
                        help="the agent this token acts as (role agent)")
    create.add_argument("--account", type=id_arg(ACCOUNT),
                        help="role integration: the one API account it posts for (messages "
                             "naming another are refused; without it, each message names its "
                             "account)")
    create.add_argument("--label", default="", help="a note to recognise the token by")
    add_common(create)
    create.set_defaults(func=cmd_token_create)
    lst = tsub.add_parser("list", help="list tokens (ids and roles, never the tokens)")
    add_common(lst)
    lst.set_defaults(func=cmd_token_list)
    rev = tsub.add_parser("revoke", help="revoke a token by the id `token list` shows")
    rev.add_argument("token_id", type=id_arg(TOKEN_ID), help="the 12-character token id")
    add_common(rev)
    rev.set_defaults(func=cmd_token_revoke)

    agent = sub.add_parser("agent", help="register and list agents")
    asub = agent.add_subparsers(dest="agent_command", metavar="ACTION", required=True)
    add = asub.add_parser("add", help="register or update an agent")
    add.add_argument("agent_id", type=id_arg(AGENT_ID),
                     help="the agent's id: 1-64 letters (any script), digits, - _ .")
    add.add_argument("--skills", required=True, type=parse_skills,
                     help="comma-separated skills, each NAME or NAME:LEVEL, e.g. billing,tech:3")
    add.add_argument("--capacity", type=int, default=5, help="most tickets held at once")
    add.add_argument("--name", default="", help="display name")
    add.add_argument("--languages", default="", help="comma-separated, e.g. zh,en")
    add.add_argument("--status", default="online", choices=[s.value for s in AgentStatus],
                     help="online agents can claim; offline agents cannot (default: online)")
    add.add_argument("--team", default="", help="the agent's team")
    add_common(add)
    add.set_defaults(func=cmd_agent_add)
    al = asub.add_parser("list", help="agents with their load and skills")
    add_common(al)
    al.set_defaults(func=cmd_agent_list)
