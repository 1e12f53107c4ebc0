"""The client's address, the one every per-address limit counts and the access log shows. The
only module that reads the connection's peer (tests/test_architecture.py holds the others to it).

Behind a reverse proxy every connection comes from the proxy, so the peer alone would put every
customer on one counter. A forwarded header names the client, but anyone can write one, so it
is believed only when the peer is listed in `http.trusted_proxies`, and then only as far as
trusted proxies wrote it: the entries are read right to left (each proxy appends the address it
saw), trusted ones skipped, and the first untrusted address is the client. Entries to its left
were written by the client itself and are never read. An entry that is not an address where one
is needed (garbage, `unknown`, an obfuscated RFC 7239 node) gives the peer: such requests share
the proxy's counter rather than choose their own; so does a chain of only trusted proxies (or
longer than MAX_HOPS)."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from aiohttp.web import BaseRequest, Request, RequestKey

from deskgate.gateway.appkeys import CONFIG
from deskgate.gateway.config import Network, proxy_networks

MAX_HOPS = 16            # forwarded entries examined; a longer trusted chain gives the peer
MAX_HEADER_CHARS = 4096  # all lines of the header together; longer gives the peer
_MAX_ENTRY_CHARS = 64    # "[v6 address]:port" with room to spare
Address = ipaddress.IPv4Address | ipaddress.IPv6Address
_RESOLVED = RequestKey("client_address", str)


def _address(text: str) -> Address | None:
    """An address as a forwarded header writes it: bare, with a port, or in brackets (IPv6)."""
    text = text.strip()
    if len(text) > _MAX_ENTRY_CHARS:
        return None
    if text.startswith("["):
        end = text.find("]")
        text = text[1:end] if end > 0 else ""
    elif text.count(":") == 1:          # IPv4 with a port; a bare IPv6 has two or more
        text = text.split(":", 1)[0]
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        return ip.ipv4_mapped           # a dual-stack listener sees IPv4 peers as ::ffff:a.b.c.d
    return ip


def _forwarded_for(element: str) -> str:
    """The `for=` value of one RFC 7239 element (`for=192.0.2.1;proto=https`), unquoted; ""
    when it has none, which no address parses from."""
    for pair in element.split(";"):
        name, _, value = pair.partition("=")
        if name.strip().lower() == "for":
            return value.strip().strip('"')
    return ""


def resolve(peer: str, header_lines: Iterable[str], trusted: tuple[Network, ...],
            header: str = "X-Forwarded-For") -> str:
    """The client's address given the peer's, the forwarded header's lines in order, the
    trusted networks and which header they set (see the module's docstring)."""
    peer_ip = _address(peer)
    if peer_ip is None or not trusted or not any(peer_ip in n for n in trusted):
        return peer
    lines: list[str] = []
    size = 0
    for line in header_lines:
        size += len(line) + 1
        if size > MAX_HEADER_CHARS:
            return peer
        lines.append(line)
    if not lines:
        return peer
    # Only the right-most MAX_HOPS entries are split off: the rest is the client's to waste.
    entries = ",".join(lines).rsplit(",", MAX_HOPS)[-MAX_HOPS:]
    for entry in reversed(entries):
        ip = _address(_forwarded_for(entry) if header == "Forwarded" else entry)
        if ip is None:
            return peer
        if not any(ip in n for n in trusted):
            return str(ip)
    return peer


def client_address(request: BaseRequest) -> str:
    """The address of whoever sent `request` ("" when the transport has none, e.g. a closed
    connection), believing forwarded headers only from `http.trusted_proxies`."""
    peer = request.remote or ""
    config = request.app.get(CONFIG) if isinstance(request, Request) else None
    if config is None or not config.http.trusted_proxies:
        return peer
    if isinstance(known := request.get(_RESOLVED), str):   # the handler's, again for the log
        return known
    http = config.http
    client = resolve(peer, request.headers.getall(http.forwarded_header, ()),
                     proxy_networks(http.trusted_proxies), http.forwarded_header)
    request[_RESOLVED] = client
    return client


def peer_address(request: BaseRequest) -> str:
    """The connection's own peer, for the access log beside the client's address."""
    return request.remote or ""
