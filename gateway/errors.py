"""One shape for every API error: {"error": {"status", "message", "field"?}}."""

from __future__ import annotations

from typing import NoReturn

import msgspec
from aiohttp import web


def json_error(status: int, message: str, *, field: str | None = None,
               headers: dict[str, str] | None = None) -> web.Response:
    body: dict[str, object] = {"status": status, "message": message}
    if field:
        body["field"] = field
    return web.json_response({"error": body}, status=status, headers=headers)


class ApiError(Exception):
    """Raised anywhere in a handler; the error middleware turns it into json_error."""

    def __init__(self, status: int, message: str, *, field: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.field, self.headers = status, message, field, headers

    def response(self) -> web.Response:
        return json_error(self.status, self.message, field=self.field, headers=self.headers)


def raise_validation(exc: msgspec.ValidationError) -> NoReturn:
    """msgspec says e.g. "Expected `str`, got `int` - at `$.sender.email`": keep the path."""
    text = str(exc)
    field = text.rsplit("at `$.", 1)[1].rstrip("`") if "at `$." in text else None
    raise ApiError(422, text, field=field) from exc
