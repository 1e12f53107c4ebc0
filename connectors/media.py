"""Media references and the rule that keeps us from fetching whatever a payload points at.

A payload may carry a URL (Messenger attachment, Twilio MediaUrlN, WeChat PicUrl, a web-chat
upload). Anyone who can get a payload to us could point it at an internal address, so a URL
becomes fetchable only when its scheme and host are the provider's own (server-side request
forgery). Attachments keep every reference for the record; a URL outside the allow-list is
stored as "blocked:<url>", which no fetcher treats as a URL.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

import msgspec

BLOCKED = "blocked:"
MAX_URL = 2048


class MediaPolicy(msgspec.Struct, frozen=True):
    """`hosts` are domain suffixes: "fbcdn.net" allows "scontent.xx.fbcdn.net"."""

    hosts: tuple[str, ...]
    schemes: tuple[str, ...] = ("https",)

    def allows(self, url: str) -> bool:
        if len(url) > MAX_URL or any(c.isspace() or ord(c) < 32 for c in url):
            return False
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            return False
        host = (parts.hostname or "").rstrip(".").lower()
        if parts.scheme.lower() not in self.schemes or not host or "@" in parts.netloc:
            return False
        if port is not None and port != {"https": 443, "http": 80}.get(parts.scheme.lower()):
            return False
        if _is_ip(host):
            return False
        return any(host == h or host.endswith("." + h) for h in self.hosts)

    def ref(self, url: str) -> str:
        """The attachment reference for a payload-supplied URL."""
        return url if self.allows(url) else BLOCKED + url[:MAX_URL]


def fetchable(ref: str, policy: MediaPolicy) -> str | None:
    """The URL a fetcher may GET for this reference, or None (media ids, blocked URLs)."""
    if ref.startswith(BLOCKED) or "://" not in ref:
        return None
    return ref if policy.allows(ref) else None


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True
