"""What the console's boards show, over the REST API: live queues, agents and review queue
(GET /api/v1/stats/board) and ticket volume over time (GET /api/v1/stats/volume)."""

from __future__ import annotations

import time

from aiohttp import web

from deskgate.gateway.web.api.common import dashboard, visible_board
from deskgate.gateway.web.auth import requires
from deskgate.gateway.web.errors import ApiError
from deskgate.gateway.web.scope import FILTERED, scope
from deskgate.models.codec import to_builtins
from deskgate.models.enums import Role

BUCKETS = {"hour": 3600, "day": 86400}
MAX_DAYS = 90


@requires(Role.AGENT, Role.MANAGER, policy=FILTERED)
async def board(request: web.Request) -> web.Response:
    """Queues (depth, oldest wait), agents (load vs capacity, skills, tickets held) and the
    review queue, in one read: what the console's live boards show."""
    full = await dashboard(request.app).board()
    return web.json_response(to_builtins(visible_board(full, scope(request))))


@requires(Role.MANAGER, policy=FILTERED)
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
    result = await dashboard(request.app).volume(since, size, scope=scope(request), now=now)
    return web.json_response(to_builtins(result))
