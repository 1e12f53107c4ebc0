"""The HTTP face of the error tree (models/errors.py): one status per kind of DeskgateError,
one JSON shape for every API error, {"error": {"status", "message", "field"?}}. What a failure
means (Redis down → Unavailable → 503 + Retry-After) is decided in gateway/errors.py."""

from __future__ import annotations

from aiohttp import web

from deskgate.models.errors import (
    Conflict,
    DeskgateError,
    Forbidden,
    Invalid,
    Malformed,
    NotFound,
    RateLimited,
    TooLarge,
    Unauthorized,
    Unavailable,
)

# Most specific first: TooLarge and Malformed are kinds of Invalid.
HTTP_STATUS: tuple[tuple[type[DeskgateError], int], ...] = (
    (Malformed, 400), (TooLarge, 413), (Invalid, 422), (Unauthorized, 401), (Forbidden, 403),
    (NotFound, 404), (Conflict, 409), (RateLimited, 429), (Unavailable, 503))


def json_error(status: int, message: str, *, field: str | None = None,
               headers: dict[str, str] | None = None) -> web.Response:
    body: dict[str, object] = {"status": status, "message": message}
    if field:
        body["field"] = field
    return web.json_response({"error": body}, status=status, headers=headers)


class ApiError(DeskgateError):
    """A handler's error given directly as an HTTP status: the thin adapter for statuses the
    tree has no kind for; new code raises the tree's kinds (NotFound, Conflict, ...)."""

    def __init__(self, status: int, message: str, *, field: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message, field=field or "")
        self.status, self.headers = status, headers


def http_status(exc: DeskgateError) -> int:
    if isinstance(exc, ApiError):
        return exc.status
    return next((status for kind, status in HTTP_STATUS if isinstance(exc, kind)), 500)


def error_response(exc: DeskgateError) -> web.Response:
    headers = dict(exc.headers or {}) if isinstance(exc, ApiError) else {}
    if exc.retry_after:
        headers["Retry-After"] = str(exc.retry_after)
    if isinstance(exc, Unauthorized):
        headers.setdefault("WWW-Authenticate", "Bearer")
    return json_error(http_status(exc), exc.message, field=exc.field or None,
                      headers=headers or None)
