"""The SMTP relay replies leave through, played by a real aiosmtpd server on loopback (in its
own thread): STARTTLS required before AUTH, AUTH required before MAIL, a certificate the test
trusts by its CA file. A test can make it answer the next DATA with a code (451, 550) or hold
DATA until released (a worker killed mid-send)."""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
import threading
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

USER, PASSWORD = "deskgate", "relay-Pw-7731"


def self_signed(folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "relay-cert.pem", folder / "relay-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    raw: bytes
    authenticated_as: str

    @property
    def message(self) -> EmailMessage:
        parsed = message_from_bytes(self.raw, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


@dataclass
class Relay:
    port: int = 0
    received: list[Received] = field(default_factory=list)
    answers: list[str] = field(default_factory=list)   # next DATA answers, oldest first
    hold: threading.Event | None = None                # DATA waits for this when set
    data_started: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.data_started.set()
        if self.hold is not None:
            # aiosmtpd runs this on the relay's own loop thread: blocking it stalls only us
            self.hold.wait(60)
        with self.lock:
            if self.answers:
                return self.answers.pop(0)
            self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos),
                                          envelope.original_content or envelope.content,
                                          str(session.auth_data or "")))
        return "250 OK queued"


def authenticator(server: Any, session: Any, envelope: Any, mechanism: str,
                  data: Any) -> AuthResult:
    ok = (isinstance(data, LoginPassword) and data.login == USER.encode()
          and data.password == PASSWORD.encode())
    return AuthResult(success=ok, auth_data=USER if ok else None)


def start_relay(folder: Path, port: int) -> tuple[Controller, Relay, Path]:
    cert, key = self_signed(folder)
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(cert, key)
    relay = Relay(port=port)
    controller = Controller(relay, hostname="127.0.0.1", port=port, tls_context=tls,
                            require_starttls=True, auth_required=True,
                            authenticator=authenticator)
    controller.start()
    return controller, relay, cert
