"""The HTTP access log: one structured line per request on the `deskgate.access` logger.

    method=GET route=/api/v1/tickets/{ticket_id} status=200 duration_ms=4.2

The route is the template the request matched, never the path: paths carry ticket, message and
agent ids, and the query string may carry search text or a token, so neither is logged, nor any
header or body. A request that matched no route logs route=<unmatched>. The same fields are on
the record (`record.method`, `.route`, `.status`, `.duration_ms`) for a JSON formatter."""

from __future__ import annotations

import logging

from aiohttp.abc import AbstractAccessLogger
from aiohttp.web import BaseRequest, Request, StreamResponse

LOGGER = logging.getLogger("deskgate.access")
UNMATCHED = "<unmatched>"


def route_template(request: BaseRequest) -> str:
    """The matched route's template ("/api/v1/tickets/{ticket_id}"), or UNMATCHED."""
    if not isinstance(request, Request):
        return UNMATCHED
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else UNMATCHED


class AccessLogger(AbstractAccessLogger):
    """For `web.AppRunner(app, access_log_class=AccessLogger, access_log=LOGGER)`."""

    @property
    def enabled(self) -> bool:
        return self.logger.isEnabledFor(logging.INFO)

    def log(self, request: BaseRequest, response: StreamResponse, time: float) -> None:
        fields = {"method": request.method, "route": route_template(request),
                  "status": response.status, "duration_ms": round(time * 1000, 1)}
        self.logger.info("method=%(method)s route=%(route)s status=%(status)d "
                         "duration_ms=%(duration_ms).1f", fields, extra=fields)
