"""What the console's boards show, over the REST API: live queues, agents and review queue
(GET /api/v1/stats/board) and ticket volume over time (GET /api/v1/stats/volume)."""

from __future__ import annotations

import time

from aiohttp import web

from deskgate.gateway.appkeys import KEYS, REDIS
from deskgate.gateway.auth import requires
from deskgate.gateway.errors import ApiError
from deskgate.gateway.openapi import api_route
from deskgate.gateway.scope import Scope, scope_of
from deskgate.models.codec import to_builtins
from deskgate.models.enums import Role
from deskgate.queue.dashboard import Board, Dashboard
from deskgate.queue.routing import split_queue

BUCKETS = {"hour": 3600, "day": 86400}
MAX_DAYS = 90


def dashboard(app: web.Application) -> Dashboard:
    return Dashboard(app[REDIS], app[KEYS])


def visible_board(full: Board, scope: Scope) -> Board:
    """What one viewer may see, by the same rules as the rest of the API (gateway/scope.py):
    an agent the queues of their skills and themself, and no review queue (it names customers
    of every team); a team manager their teams' queues, agents and flagged tickets."""
    if scope.everything:
        return full
    skills = scope.skills or frozenset()
    if scope.role is Role.AGENT:
        return Board(at=full.at, queues=tuple(q for q in full.queues if q.skill in skills),
                     agents=tuple(a for a in full.agents if a.id == scope.agent_id),
                     review_total=0, review=())
    review = tuple(i for i in full.review if split_queue(i.skill)[0] in skills)
    return Board(at=full.at, queues=tuple(q for q in full.queues if q.skill in skills),
                 agents=tuple(a for a in full.agents if a.team in (scope.teams or ())),
                 review_total=len(review), review=review)


@requires(Role.AGENT, Role.MANAGER)
async def board(request: web.Request) -> web.Response:
    """Queues (depth, oldest wait), agents (load vs capacity, skills, tickets held) and the
    review queue, in one read: what the console's live boards show."""
    full = await dashboard(request.app).board()
    return web.json_response(to_builtins(visible_board(full, await scope_of(request))))


@requires(Role.MANAGER)
async def volume(request: web.Request) -> web.Response:
    """Tickets created per hour or day by channel, topic, sentiment and priority."""
    bucket = request.query.get("bucket", "day")
    if bucket not in BUCKETS:
        raise ApiError(400, "bucket must be hour or day", field="bucket")
    try:
        days = int(request.query.get("days", "7"))
    except ValueError as exc:
        raise ApiError(400, "days must be an integer", field="days") from exc
    if not 1 <= days <= MAX_DAYS:
        raise ApiError(400, f"days must be 1-{MAX_DAYS}", field="days")
    size = BUCKETS[bucket]
    now = time.time()
    # buckets start on whole hours/days (UTC) so that two reloads draw the same bars
    since = (now // size) * size - (days * 86400 - size)
    result = await dashboard(request.app).volume(since, size, now)
    return web.json_response(to_builtins(result))


def setup(app: web.Application) -> None:
    api_route(app, "GET", "/api/v1/stats/board", board, tag="stats")
    api_route(app, "GET", "/api/v1/stats/volume", volume, tag="stats")
