"""What a signed-in browser reads — tickets with customers' names, addresses and messages, the
session's CSRF token, token listings — is never kept in its cache (or a proxy's) for the next
user of a shared desk PC; the console's static files still revalidate cheaply."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from deskgate.models.enums import Role


async def test_customer_data_and_the_session_are_never_cached(
        client: Any, token: Callable[..., str],
        sign_in: Callable[[Any, str], Awaitable[str]]) -> None:
    await sign_in(client, token(Role.ADMIN))
    for path in ("/console/session", "/api/v1/tickets", "/api/v1/tokens", "/api/v1/review",
                 "/api/v1/tickets/DG-404"):
        resp = await client.get(path)
        assert resp.status in (200, 404), path
        assert resp.headers.get("Cache-Control") == "no-store", path
        assert resp.headers.get("X-Content-Type-Options") == "nosniff", path
    refused = await client.post("/api/v1/messages", json={})       # an error answer too
    assert refused.headers.get("Cache-Control") == "no-store"
    static = await client.get("/console/static/js/app.js")
    assert static.status == 200 and static.headers["Cache-Control"] == "no-cache"
