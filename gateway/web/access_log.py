"""The HTTP access log: one structured line per request on the `deskgate.access` logger.

    method=GET route=/api/v1/tickets/{id} status=200 duration_ms=4.2 client=203.0.113.7 peer=10.0.0.5

`client` is the address the per-address limits count (gateway/web/client_address.py); `peer`,
the connection's own, is added only when it differs (the request came through a trusted proxy).
The route is the template the request matched, never the path: paths carry ticket, message and
agent ids, and the query string may carry search text or a token, so neither is logged, nor any
header or body (a client address read from a forwarded header is logged as the address it
parsed into, never as the header's text). A request that matched no route logs route=<unmatched>. The same fields are on
the record (`record.method`, `.route`, `.status`, `.duration_ms`, `.client`, `.peer`) for a
JSON formatter."""

from __future__ import annotations

import logging

from aiohttp.abc import AbstractAccessLogger
from aiohttp.web import BaseRequest, Request, StreamResponse

from deskgate.gateway.web.client_address import client_address, peer_address

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
        client, peer = client_address(request), peer_address(request)
        fields = {"method": request.method, "route": route_template(request),
                  "status": response.status, "duration_ms": round(time * 1000, 1),
                  "client": client, "peer": peer}
        self.logger.info("method=%(method)s route=%(route)s status=%(status)d "
                         "duration_ms=%(duration_ms).1f client=%(client)s"
                         + (" peer=%(peer)s" if peer != client else ""), fields, extra=fields)
