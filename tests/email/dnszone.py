"""A DNS stand-in for the sender checks, and DKIM keys to publish in it: a real UDP server on 127.0.0.1 (dnslib) answering from
records a test publishes (DKIM keys, SPF and DMARC as TXT), NXDOMAIN for any other name.
The tests point `email.sender_auth.nameservers` at it, so nothing ever asks the Internet."""

from __future__ import annotations

import base64
import threading

import dkim
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from dnslib import QTYPE, RCODE, RR, TXT
from dnslib.server import BaseResolver, DNSLogger, DNSServer


class Zone(BaseResolver):
    def __init__(self, ttl: int = 0) -> None:
        self.ttl = ttl           # 0: resolvers cache nothing, each test sees its records
        self._lock = threading.Lock()
        self._txt: dict[str, list[str]] = {}
        self.queries: list[tuple[str, str]] = []

    def txt(self, name: str, *values: str) -> None:
        with self._lock:
            self._txt[name.lower().rstrip(".")] = list(values)

    def clear(self) -> None:
        with self._lock:
            self._txt.clear()
            self.queries.clear()

    def resolve(self, request, handler):  # type: ignore[no-untyped-def]  # dnslib's API
        reply = request.reply()
        name = str(request.q.qname).rstrip(".").lower()
        qtype = QTYPE[request.q.qtype]
        with self._lock:
            self.queries.append((name, qtype))
            values = self._txt.get(name)
        if values is None:
            reply.header.rcode = RCODE.NXDOMAIN
        elif qtype == "TXT":
            for value in values:
                raw = value.encode()
                chunks = [raw[i:i + 255] for i in range(0, len(raw), 255)] or [b""]
                reply.add_answer(RR(name, QTYPE.TXT, rdata=TXT(chunks), ttl=self.ttl))
        return reply


class DnsStandIn:
    def __init__(self, ttl: int = 0) -> None:
        self.zone = Zone(ttl)
        self._server = DNSServer(self.zone, address="127.0.0.1", port=0,
                                 logger=DNSLogger("-request,-reply,-truncated", prefix=False))

    @property
    def address(self) -> str:
        host, port = self._server.server.server_address[:2]
        return f"{host}:{port}"

    def start(self) -> None:
        self._server.start_thread()

    def stop(self) -> None:
        self._server.stop()
        self._server.server.server_close()


class DkimKey:
    """A fresh RSA key, its DNS record, and dkimpy signing with it."""

    def __init__(self, domain: str, selector: str = "s1") -> None:
        self.domain, self.selector = domain, selector
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self._pem = key.private_bytes(serialization.Encoding.PEM,
                                      serialization.PrivateFormat.TraditionalOpenSSL,
                                      serialization.NoEncryption())
        der = key.public_key().public_bytes(serialization.Encoding.DER,
                                            serialization.PublicFormat.SubjectPublicKeyInfo)
        self.record = f"v=DKIM1; k=rsa; p={base64.b64encode(der).decode()}"

    def publish(self, zone: Zone) -> None:
        zone.txt(f"{self.selector}._domainkey.{self.domain}", self.record)

    def sign(self, raw: bytes) -> bytes:
        header = dkim.sign(raw, self.selector.encode(), self.domain.encode(), self._pem,
                           include_headers=[b"from", b"to", b"subject", b"message-id",
                                            b"in-reply-to", b"references"])
        return header + raw
