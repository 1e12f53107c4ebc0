"""What keeps slow, broken or hostile clients from exhausting the listeners: the file limit,
connection caps, read deadlines and a bounded log of malformed requests.

- At start `serve` raises the soft RLIMIT_NOFILE to the hard limit and fits the HTTP and SMTP
  connection caps under it (with room for Redis clients, worker pipes and files), so a flood
  of connections meets a cap (HTTP 503, SMTP 421) instead of EMFILE on accept. Should EMFILE
  happen anyway, asyncio's accept loop pauses a second and resumes; nothing here stops it.
- HTTP: a connection must deliver a complete request head within `header_timeout_seconds` of
  connecting or of its previous response (aiohttp's keep-alive timer, armed at connect, closes
  it otherwise); a body must arrive within `body_timeout_seconds` (between two chunks, for the
  routes that stream uploads); past `max_connections` a new connection gets 503 and is closed.
- Malformed requests cost one WARNING line, at most LOG_LINES_PER_MINUTE a minute.
SMTP's timeouts and caps live with the listener (gateway/mail/smtp.py) and use ConnectionCounter."""

from __future__ import annotations

import asyncio
import logging
import re
import resource
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import msgspec
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError, InvalidURLError

from deskgate.gateway.appkeys import CONFIG
from deskgate.gateway.config import Config
from deskgate.gateway.web.errors import ApiError

log = logging.getLogger("deskgate.edge")

FD_RESERVE = 256                 # Redis clients, worker pipes, blob files, the listeners
LOG_LINES_PER_MINUTE = 20
LINGER_SECONDS = 2.0
STREAMS_BODY = "__deskgate_streams_body__"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class QuietLog:
    """A logger that writes at most `per_minute` lines a minute, then says how many it
    dropped: a client that sends garbage in a loop cannot fill the disk through the log."""

    def __init__(self, logger: logging.Logger, per_minute: int = LOG_LINES_PER_MINUTE) -> None:
        self._log, self._per_minute = logger, per_minute
        self._window, self._written, self._dropped = 0.0, 0, 0

    def log(self, level: int, msg: str, *args: Any, exc_info: Any = None) -> None:
        now = time.monotonic()
        if now - self._window >= 60.0:
            if self._dropped:
                self._log.warning("%d more such lines were dropped in the last minute",
                                  self._dropped)
            self._window, self._written, self._dropped = now, 0, 0
        if self._written >= self._per_minute:
            self._dropped += 1
            return
        self._written += 1
        self._log.log(level, msg, *args, exc_info=exc_info)


class RequestErrorLog(logging.LoggerAdapter):  # type: ignore[type-arg]
    """aiohttp's request handler logs every unreadable request at ERROR with a traceback
    (`logger.exception`); here that is one bounded WARNING line, and real failures stay
    ERRORs with their traceback, bounded too. The parser's message quotes the offending
    request bytes (an Authorization header, a signed query string), so the line keeps only
    the error's kind, its description and the offending header's name: never request bytes."""

    def __init__(self, logger: logging.Logger) -> None:
        super().__init__(logger, {})
        self._quiet = QuietLog(logger)

    def log(self, level: int, msg: object, *args: Any, exc_info: Any = None,
            **kwargs: Any) -> None:
        exc = exc_info if isinstance(exc_info, BaseException) else (
            sys.exc_info()[1] if exc_info else None)
        if isinstance(exc, HttpProcessingError):
            level = min(level, logging.WARNING)
        if not self.isEnabledFor(level):
            return
        if isinstance(exc, HttpProcessingError):
            self._quiet.log(level, "malformed HTTP request from %s: %s",
                            args[0] if args else "?", describe_parse_error(exc))
        else:
            self._quiet.log(level, str(msg), *args, exc_info=exc_info)


# a Python literal as repr() writes it: how aiohttp quotes request bytes in its messages
_LITERAL = re.compile(r"""b?(?:'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")""")
# aiohttp's C parser quotes the whole offending line under its description, so an excerpt
# that opens with `Name:` names the header; the pure-Python parser quotes only the value
_EXCERPT_HEADER = re.compile(r"""^\s*b?['"]([A-Za-z0-9-]{1,40}):""")


def describe_parse_error(exc: HttpProcessingError) -> str:
    """`InvalidHeader: Invalid HTTP header: … (header Authorization)`: the first line
    of aiohttp's message with every quoted excerpt of the request blanked, and the name (never
    the value) of the header an excerpt shows, if it shows one."""
    if isinstance(exc, InvalidURLError):     # its message is the raw target, unquoted
        described = "invalid request target"
    else:
        # a quote left after blanking the literals opens one we could not read: cut there
        blanked = _LITERAL.sub("…", (exc.message.splitlines() or [""])[0])
        described = re.split(r"""['"]""", blanked)[0].rstrip(" :")[:120]
    named = next((m.group(1) for line in exc.message.splitlines()[1:]
                  if (m := _EXCERPT_HEADER.match(line))), "")
    return f"{type(exc).__name__}: {described or 'unreadable request'}" + (
        f" (header {named})" if named else "")


def handler_args(config: Config) -> dict[str, Any]:
    """aiohttp request-handler settings (web.Application(handler_args=...))."""
    return {"keepalive_timeout": config.http.header_timeout_seconds,
            # after an early answer (408, 413) the unread rest of a body is drained this long
            "lingering_time": LINGER_SECONDS,
            "logger": RequestErrorLog(logging.getLogger("deskgate.http"))}


def streams_body(handler: Handler) -> Handler:
    """Marks a route that reads its (large) body as a stream with read_chunks(), so the body
    middleware does not read it whole first."""
    setattr(handler, STREAMS_BODY, True)
    return handler


async def read_body(request: web.Request) -> None:
    """Read an ordinary request's body (bounded by client_max_size) within the body deadline;
    handlers then get it from aiohttp's cache. 408 and a closed connection otherwise."""
    if not request.body_exists or getattr(request.match_info.handler, STREAMS_BODY, False):
        return
    if request.content.is_eof():
        # all of it arrived with the headers (the usual small POST): reading cannot wait, and
        # a deadline per request (a timer armed and cancelled) was ~5% of the gateway's CPU
        await request.read()
        return
    timeout = request.app[CONFIG].http.body_timeout_seconds
    try:
        async with asyncio.timeout(timeout):
            await request.read()
    except TimeoutError:
        raise ApiError(408, f"the request body did not arrive within {timeout:g} s",
                       headers={"Connection": "close"}) from None


async def read_chunks(request: web.Request, size: int = 1 << 16) -> AsyncIterator[bytes]:
    """A streamed body, chunk by chunk; 408 when a chunk takes longer than the body timeout."""
    timeout = request.app[CONFIG].http.body_timeout_seconds
    while True:
        try:
            async with asyncio.timeout(timeout):
                chunk = await request.content.read(size)
        except TimeoutError:
            raise ApiError(408, f"no part of the request body arrived for {timeout:g} s",
                           headers={"Connection": "close"}) from None
        if not chunk:
            return
        yield chunk


_BUSY_BODY = b'{"error": {"status": 503, "message": "too many connections, retry soon"}}'
_BUSY = (b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nConnection: close\r\n"
         b"Content-Type: application/json\r\nX-Content-Type-Options: nosniff\r\n"
         b"Content-Length: %d\r\n\r\n%s" % (len(_BUSY_BODY), _BUSY_BODY))


class _Busy(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        transport.write(_BUSY)
        transport.close()


class GuardedSite(web.BaseSite):
    """aiohttp's TCP site with a cap on open connections: past it, a new connection is
    answered 503 at once and closed, so the file descriptors stay below the process limit."""

    def __init__(self, runner: web.BaseRunner, host: str, port: int, *,
                 max_connections: int, reuse_port: bool = False) -> None:
        super().__init__(runner)
        self._host, self._port, self._reuse_port = host, port, reuse_port
        self._max = max_connections

    @property
    def name(self) -> str:
        return f"http://{self._host}:{self._port}"

    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        await super().start()
        server = self._runner.server
        assert server is not None
        quiet = QuietLog(log)
        # Counted from the protocol's creation (a batch of accepts creates every protocol
        # before the first is registered in server.connections) to aiohttp's connection_lost,
        # which the server is told of exactly once per connection.
        open_count = 0
        forget = server.connection_lost

        def lost(handler: Any, exc: BaseException | None = None) -> None:
            nonlocal open_count
            open_count -= 1
            forget(handler, exc)

        server.connection_lost = lost  # type: ignore[method-assign]

        def protocol() -> asyncio.BaseProtocol:
            nonlocal open_count
            if open_count < self._max:
                open_count += 1
                return server()
            quiet.log(logging.WARNING, "HTTP connection cap (%d) reached: answering 503",
                      self._max)
            return _Busy()

        self._server = await asyncio.get_running_loop().create_server(
            protocol, self._host, self._port, reuse_address=True,
            reuse_port=self._reuse_port or None)


class ConnectionCounter:
    """Open connections in total and per client address, for a listener's caps."""

    def __init__(self, total: int, per_client: int) -> None:
        self.total, self.per_client = total, per_client
        self.by_client: Counter[str] = Counter()
        self.open = 0

    def refusal(self, client: str) -> str:
        """Why a new connection from `client` is refused, or "" (and it is counted)."""
        if self.open >= self.total:
            return "too many connections"
        if self.by_client[client] >= self.per_client:
            return f"too many connections from {client}"
        self.open += 1
        self.by_client[client] += 1
        return ""

    def release(self, client: str) -> None:
        self.open -= 1
        self.by_client[client] -= 1
        if self.by_client[client] <= 0:
            del self.by_client[client]

    def busy(self, share: float = 0.75) -> bool:
        return self.open >= share * self.total


def raise_file_limit() -> int:
    """Soft RLIMIT_NOFILE up to the hard limit (a shell's `ulimit -n 1024` is a common soft
    default); returns the soft limit in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = _nr_open() if hard == resource.RLIM_INFINITY else hard
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError) as exc:
            log.warning("cannot raise the open-file limit from %d to %d: %s", soft, target, exc)
    return target if soft == resource.RLIM_INFINITY else soft


def _nr_open() -> int:
    try:
        return int(Path("/proc/sys/fs/nr_open").read_text())
    except (OSError, ValueError):
        return 1 << 16


def fit_to_file_limit(config: Config, limit: int) -> Config:
    """The config with its HTTP and SMTP connection caps scaled down to fit `limit` open
    files (keeping FD_RESERVE for everything else)."""
    http_cap = config.http.max_connections
    smtp_cap = config.email.smtp.max_connections if config.email.smtp_enabled else 0
    room = max(32, limit - FD_RESERVE)
    if http_cap + smtp_cap <= room:
        return config
    http_new = max(16, room * http_cap // (http_cap + smtp_cap))
    smtp_new = max(16, room - http_new) if smtp_cap else config.email.smtp.max_connections
    log.warning("%d open files allowed: HTTP connections capped at %d (not %d), SMTP at %d "
                "(not %d); raise the hard limit (ulimit -Hn, LimitNOFILE=) for more",
                limit, http_new, http_cap, smtp_new, smtp_cap)
    smtp = msgspec.structs.replace(config.email.smtp, max_connections=smtp_new,
                                   max_connections_per_client=min(
                                       smtp_new, config.email.smtp.max_connections_per_client))
    return msgspec.structs.replace(
        config, http=msgspec.structs.replace(config.http, max_connections=http_new),
        email=msgspec.structs.replace(config.email, smtp=smtp))
