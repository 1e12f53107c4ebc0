"""Who really sent a mail. The From address is anyone's to write; it becomes a trusted identity
only with proof that the address's domain sent the message:

- mail our SMTP listener receives from the sender's own server: a DKIM signature (dkimpy) or
  an SPF pass for the connecting address (pyspf), whose domain is aligned with the From domain
  as DMARC defines alignment (RFC 7489 3.1: relaxed = same organizational domain, found with
  the Public Suffix List; strict when the domain's DMARC record says adkim=s / aspf=s);
- mail a trusted MTA of ours relayed (or delivered into an IMAP mailbox): that MTA's
  Authentication-Results header (RFC 8601, parsed with authres), recognised by its authserv-id;
  without one we still check DKIM alignment ourselves, the one proof that survives relaying.

Every DNS lookup is bounded: a timeout per query, a time budget and a query count per message
(SPF's own limits of 10 lookups and 2 void lookups apply inside it). The checks block on DNS,
so SenderVerifier.check_async runs them on its own threads, never on the event loop. A DNS
failure never rejects mail: the sender just stays unverified.

The check reads the header block alone: what needs the body (each DKIM signature's body hash)
comes as SenderEvidence from where the mail was parsed (connectors/email_evidence.py)."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import re
import threading
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from typing import Any, NamedTuple

import authres
import dkim
import dns.exception
import dns.nameserver
import dns.rdatatype
import dns.resolver
import spf
from publicsuffixlist import PublicSuffixList

from deskgate.connectors.email_config import SenderAuthConfig, nameserver_address
from deskgate.connectors.email_evidence import SenderEvidence, sender_evidence
from deskgate.models.message import SenderAuth

log = logging.getLogger("deskgate.email_auth")
NOT_CHECKED = SenderAuth(verified=False, detail="not checked")
DNS_CACHE_ENTRIES = 20_000
_FOLDING = re.compile(r"\r?\n[ \t]+")
_MAX_DETAIL = 500


class SmtpPeer(NamedTuple):
    """The SMTP session a message came in: what SPF judges."""

    ip: str
    helo: str
    mail_from: str          # envelope sender; "" or "<>" for bounces


class DnsUnavailable(Exception):
    """A lookup timed out, failed, or would exceed the message's budget (a temporary error)."""


class _Budget:
    """The DNS lookups of one message: each bounded by the per-query timeout and what is left
    of the message's time budget and query count."""

    def __init__(self, resolver: dns.resolver.Resolver, cfg: SenderAuthConfig) -> None:
        self._resolver = resolver
        self._timeout = cfg.dns_timeout_seconds
        self._deadline = time.monotonic() + cfg.dns_budget_seconds
        self._left = cfg.max_dns_queries

    def query(self, name: str, rdtype: str) -> dns.resolver.Answer | None:
        """The answer, or None when the name or the record type does not exist."""
        remaining = self._deadline - time.monotonic()
        if remaining <= 0 or self._left <= 0:
            raise DnsUnavailable("DNS budget for this message used up")
        self._left -= 1
        try:
            return self._resolver.resolve(name, rdtype, lifetime=min(self._timeout, remaining),
                                          search=False)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return None
        except dns.exception.DNSException as exc:  # timeout, SERVFAIL, no server reachable
            raise DnsUnavailable(f"{name} {rdtype}: {type(exc).__name__}") from None

    def txt(self, name: str) -> list[bytes]:
        answer = self.query(name, "TXT")
        return [b"".join(r.strings) for r in answer] if answer is not None else []

    def dkim_key(self, name: bytes, timeout: float = 0) -> bytes | None:
        """dkimpy's dnsfunc: the key record's text (None = no key)."""
        records = self.txt(name.decode("ascii", "replace").rstrip("."))
        return records[0] if records else None


_bound = threading.local()


def _spf_lookup(name: str, qtype: str, strict: bool = True,
                timeout: float = 0) -> list[tuple[tuple[str, str], Any]]:
    """pyspf's DNSLookup hook (it has no per-query resolver parameter): the lookups go through
    the budget bound to this thread by _check_spf, in the format pyspf's own dnspython
    lookup returns."""
    budget: _Budget | None = getattr(_bound, "budget", None)
    if budget is None:
        raise spf.TempError("DNS: no resolver bound for this SPF check")
    try:
        answer = budget.query(name, qtype)
    except DnsUnavailable as exc:
        raise spf.TempError(f"DNS {exc}") from None
    out: list[tuple[tuple[str, str], Any]] = []
    for rdata in answer or ():
        if qtype in ("A", "AAAA"):
            out.append(((name, qtype), rdata.address))
        elif qtype == "MX":
            out.append(((name, qtype), (rdata.preference, rdata.exchange)))
        elif qtype == "PTR":
            out.append(((name, qtype), rdata.target.to_text(True)))
        elif qtype in ("TXT", "SPF"):
            out.append(((name, qtype), rdata.strings))
    return out


spf.DNSLookup = _spf_lookup


def make_resolver(cfg: SenderAuthConfig) -> dns.resolver.Resolver:
    try:
        resolver = dns.resolver.Resolver(configure=not cfg.nameservers)
    except dns.resolver.NoResolverConfiguration:
        log.warning("no DNS servers in /etc/resolv.conf and none in email.sender_auth."
                    "nameservers: no mail sender can be verified until one is configured")
        resolver = dns.resolver.Resolver(configure=False)
    if cfg.nameservers:
        resolver.nameservers = [_nameserver(entry) for entry in cfg.nameservers]
    resolver.timeout = cfg.dns_timeout_seconds
    resolver.lifetime = cfg.dns_timeout_seconds
    resolver.use_edns(0, 0, 1232)  # 2048-bit DKIM keys do not fit the 512 bytes of plain DNS
    # the same senders' keys, SPF and DMARC records come again and again; honours their TTLs
    resolver.cache = dns.resolver.LRUCache(DNS_CACHE_ENTRIES)
    return resolver


def _nameserver(entry: str) -> dns.nameserver.Nameserver:
    return dns.nameserver.Do53Nameserver(*nameserver_address(entry))


@cache
def _psl() -> PublicSuffixList:
    return PublicSuffixList()  # ~0.2 s to load: once per process, when first needed


def organizational_domain(domain: str) -> str:
    domain = domain.lower().rstrip(".")
    return _psl().privatesuffix(domain) or domain


def aligned(domain: str, from_domain: str, strict: bool = False) -> bool:
    a, b = domain.lower().rstrip("."), from_domain.lower().rstrip(".")
    if not a or not b:
        return False
    return a == b if strict else organizational_domain(a) == organizational_domain(b)


class DmarcPolicy(NamedTuple):
    policy: str             # none | quarantine | reject
    strict_dkim: bool
    strict_spf: bool


def dmarc_policy(from_domain: str, budget: _Budget) -> DmarcPolicy | None:
    """The DMARC record of the From domain, else of its organizational domain (RFC 7489 6.6.3);
    None when there is none (or several, which is no valid record either)."""
    org = organizational_domain(from_domain)
    for name in dict.fromkeys((from_domain, org)):
        records = [t for t in budget.txt(f"_dmarc.{name}") if t[:8].lower() == b"v=dmarc1"]
        if len(records) != 1:
            if records:
                return None
            continue
        tags: dict[str, str] = {}
        for part in records[0].decode("ascii", "replace").split(";"):
            key, _, value = part.partition("=")
            tags.setdefault(key.strip().lower(), value.strip().lower())
        policy = tags.get("sp", "") if name != from_domain else ""
        return DmarcPolicy(policy or tags.get("p", "none"), tags.get("adkim") == "s",
                           tags.get("aspf") == "s")
    return None


class SenderVerifier:
    """Checks messages against one resolver; `check` blocks (bounded), `check_async` runs it
    on this verifier's threads."""

    def __init__(self, cfg: SenderAuthConfig) -> None:
        self._cfg = cfg
        self._resolver = make_resolver(cfg)
        self._trusted_ids = {i.lower() for i in cfg.trusted_authserv_ids}
        self._relays = [ipaddress.ip_network(r, strict=False) for r in cfg.trusted_relays]
        self._pool: ThreadPoolExecutor | None = None

    async def check_async(self, raw: bytes, address: str, peer: SmtpPeer | None = None,
                          evidence: SenderEvidence | None = None) -> SenderAuth:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self._cfg.checks_in_parallel,
                                            thread_name_prefix="sender-auth")
        return await asyncio.get_running_loop().run_in_executor(
            self._pool, self.check, raw, address, peer, evidence)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)

    def check(self, raw: bytes, address: str, peer: SmtpPeer | None = None,
              evidence: SenderEvidence | None = None) -> SenderAuth:
        """Is `address` (the sender identity the parser took from the mail) proven? `peer` is
        the SMTP session for mail our listener received; None for a copy fetched by IMAP.
        `evidence` is what the parse process read from the body (ParsedMail.evidence); without
        it, it is computed here, reading the whole mail."""
        domain = address.rpartition("@")[2].lower().rstrip(".") if "@" in address else ""
        if not domain:
            return SenderAuth(verified=False, detail="no sender address")
        if evidence is None:
            evidence = sender_evidence(raw, self._cfg.max_dkim_signatures)
        head = raw[:evidence.head_end]
        try:
            headers, _ = dkim.rfc822_parse(head)
        except Exception:  # unparseable headers prove nothing
            return SenderAuth(verified=False, detail="unreadable headers")
        relayed = peer is None or self._is_relay(peer.ip)
        if relayed and self._trusted_ids:
            upstream = self._upstream(headers, domain)
            if upstream is not None:
                return upstream
        budget = _Budget(self._resolver, self._cfg)
        notes: list[str] = []
        dkim_domains = self._dkim(head, evidence.dkim_body, headers, budget, notes)
        spf_domain = "" if relayed or peer is None else self._spf(peer, budget, notes)
        try:
            policy = dmarc_policy(domain, budget)
        except DnsUnavailable:
            policy = None
            notes.append("dmarc=temperror")
        else:
            notes.append(f"dmarc policy p={policy.policy}" if policy else "no dmarc record")
        strict_dkim = bool(policy and policy.strict_dkim)
        strict_spf = bool(policy and policy.strict_spf)
        if any(aligned(d, domain, strict_dkim) for d in dkim_domains):
            return _result(True, "dkim", f"aligned with {domain}", notes)
        if spf_domain and aligned(spf_domain, domain, strict_spf):
            return _result(True, "spf", f"aligned with {domain}", notes)
        if relayed and not self._trusted_ids:
            notes.append("no trusted authserv-id configured")
        return _result(False, "", f"nothing aligned with {domain}", notes)

    def _is_relay(self, ip: str) -> bool:
        try:
            addr = ipaddress.ip_address(ip)
        except ValueError:
            return False
        return any(addr in net for net in self._relays)

    def _dkim(self, head: bytes, body_ok: tuple[bool, ...], headers: list[tuple[bytes, bytes]],
              budget: _Budget, notes: list[str]) -> list[str]:
        """The d= domains of the signatures that verify."""
        count = sum(1 for name, _ in headers if name.lower() == b"dkim-signature")
        if not count:
            notes.append("dkim=none")
            return []
        passed: list[str] = []
        try:
            checker = _HeaderBlockDKIM(head, body_ok,
                                       timeout=int(self._cfg.dns_timeout_seconds) or 1)
        except Exception:  # a message dkimpy cannot read has no valid signature
            notes.append("dkim=permerror")
            return []
        for idx in range(min(count, self._cfg.max_dkim_signatures)):
            checker.domain = None
            try:
                ok = checker.verify(idx=idx, dnsfunc=budget.dkim_key)
                outcome = "pass" if ok else "fail"
            except DnsUnavailable:
                outcome = "temperror"
            except dkim.ValidationError:  # e.g. the body hash does not match: altered
                outcome = "fail"
            except Exception:  # malformed signature or key: not a pass
                outcome = "permerror"
            d = checker.domain.decode("ascii", "replace") if checker.domain else "?"
            notes.append(f"dkim={outcome} d={d}")
            if outcome == "pass" and checker.domain:
                passed.append(d)
        return passed

    def _spf(self, peer: SmtpPeer, budget: _Budget, notes: list[str]) -> str:
        """The domain SPF passed for (MAIL FROM's, or HELO's for a bounce), else ""."""
        helo = peer.helo.strip().strip("[]")
        mail_from = peer.mail_from.strip("<>")
        sender = mail_from if "@" in mail_from else f"postmaster@{helo}"
        domain = sender.rpartition("@")[2].lower()
        try:
            ipaddress.ip_address(peer.ip)
        except ValueError:
            notes.append("spf=none (no client address)")
            return ""
        _bound.budget = budget
        try:
            result, _, _ = spf.query(i=peer.ip, s=sender, h=helo or domain,
                                     timeout=self._cfg.dns_timeout_seconds).check()
        except Exception as exc:  # pyspf raising on odd input is not a pass
            result = f"permerror ({type(exc).__name__})"
        finally:
            _bound.budget = None
        notes.append(f"spf={result} {domain}")
        return domain if result == "pass" else ""

    def _upstream(self, headers: list[tuple[bytes, bytes]], domain: str) -> SenderAuth | None:
        """The verdict of our trusted MTAs' Authentication-Results headers, None if there is
        none. A DMARC result is decisive (a fail beats any pass, so a forged pass header
        cannot override our MTA's fail); without one, a DKIM or SPF pass aligned with the
        From domain verifies."""
        results: list[Any] = []
        for name, value in headers:
            if name.lower() != b"authentication-results":
                continue
            text = _FOLDING.sub(" ", value.decode("utf-8", "replace")).strip()
            try:
                parsed = authres.AuthenticationResultsHeader.parse_value(text)
            except Exception:  # a malformed header is no evidence
                continue
            if str(parsed.authserv_id).lower() in self._trusted_ids:
                results += parsed.results
        if not results:
            return None
        source = "authentication-results"
        dmarc = [r for r in results if r.method == "dmarc"]
        if dmarc:
            passed = all(r.result == "pass" and _prop(r, "from") in ("", domain) for r in dmarc)
            return _result(passed, source if passed else "", "dmarc=" + ",".join(
                f"{r.result} header.from={_prop(r, 'from') or '?'}" for r in dmarc), [])
        notes = [f"{r.method}={r.result} {_prop(r, 'd') or _prop(r, 'mailfrom')}".strip()
                 for r in results if r.method in ("dkim", "spf")]
        for r in results:
            if r.result != "pass":
                continue
            if r.method == "dkim" and aligned(_prop(r, "d"), domain):
                return _result(True, source, f"dkim aligned with {domain}", notes)
            if r.method == "spf" and aligned(_prop(r, "mailfrom").rpartition("@")[2], domain):
                return _result(True, source, f"spf aligned with {domain}", notes)
        return _result(False, "", f"nothing aligned with {domain}", notes)


class _HeaderBlockDKIM(dkim.DKIM):
    """dkimpy's verifier given the header block only: each signature's body hash was compared
    where the mail was parsed (SenderEvidence.dkim_body); the signature over the headers, the
    key lookup and every other check are dkimpy's own. The seam is dkimpy 1.1's
    verify_sig_process, which checks bh= only when the signature has one."""

    def __init__(self, head: bytes, body_ok: tuple[bool, ...], **kwargs: Any) -> None:
        super().__init__(head, **kwargs)
        self._body_ok = body_ok
        self._idx = 0

    def verify(self, idx: int = 0, dnsfunc: Any = dkim.get_txt) -> bool:
        self._idx = idx
        return bool(super().verify(idx=idx, dnsfunc=dnsfunc))

    def verify_sig_process(self, sig: dict[bytes, bytes], include_headers: list[bytes],
                           sig_header: tuple[bytes, bytes], dnsfunc: Any) -> bool:
        if not (self._idx < len(self._body_ok) and self._body_ok[self._idx]):
            raise dkim.ValidationError("body hash mismatch")
        headers_only = {tag: value for tag, value in sig.items() if tag != b"bh"}
        return bool(super().verify_sig_process(headers_only, include_headers, sig_header,
                                               dnsfunc))


def _prop(result: Any, name: str) -> str:
    for p in getattr(result, "properties", ()):
        if str(p.name).lower() == name:
            return str(p.value).lower().rstrip(".")
    return ""


def _result(verified: bool, method: str, verdict: str, notes: Iterable[str]) -> SenderAuth:
    return SenderAuth(verified=verified, method=method,
                      detail="; ".join([verdict, *notes])[:_MAX_DETAIL])
