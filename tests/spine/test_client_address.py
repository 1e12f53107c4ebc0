"""The client address every per-address limit counts (gateway/web/client_address.py), over real
HTTP on loopback with the console sign-in limit as the probe: with no trusted proxy a forged
X-Forwarded-For changes nothing; behind a trusted proxy each forwarded client has its own
counter, a forged left-most entry is never read, garbage falls back to the peer; the widget's
anonymous-visitor limit follows the same address; the access log shows client and peer; a wrong
`http.trusted_proxies` entry fails at load, saying which."""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest
import redis
from aiohttp.test_utils import TestServer

from deskgate.gateway.config import Config, ConfigError, parse_config, proxy_networks
from deskgate.gateway.web import access_log
from deskgate.gateway.web.app import create_app
from deskgate.gateway.web.client_address import MAX_HOPS, resolve
from deskgate.gateway.web.webchat_visitor import MINTS_PER_WINDOW
from deskgate.queue.keys import Keys
from deskgate.queue.sessions import LOGIN_FAILURES_MAX

PEER = "127.0.0.1"      # what the test client's loopback connection comes from


def _config(config: Config, *trusted: str, header: str = "X-Forwarded-For") -> Config:
    http = msgspec.structs.replace(config.http, trusted_proxies=trusted, forwarded_header=header)
    return msgspec.structs.replace(config, http=http)


@pytest.fixture(name="gateway")
def gateway_fixture(aiohttp_client: Any, config: Config, redis_url: str,
                    data_dir: Path) -> Callable[..., Any]:
    async def start(*trusted: str, header: str = "X-Forwarded-For") -> Any:
        app = create_app(_config(config, *trusted, header=header), redis_url, data_dir,
                         run_workers=False)
        return await aiohttp_client(app)
    return start


async def _sign_in(client: Any, forwarded: dict[str, str] | None = None) -> int:
    resp = await client.post("/console/login", json={"token": "dgt_wrong_guess"},
                             headers=forwarded or {})
    return int(resp.status)


async def test_without_trusted_proxies_a_forged_header_is_ignored(
        gateway: Any, r: redis.Redis, keys: Keys) -> None:
    client = await gateway()
    for i in range(LOGIN_FAILURES_MAX):
        assert await _sign_in(client, {"X-Forwarded-For": f"203.0.113.{i}",
                                       "Forwarded": f"for=198.51.100.{i}"}) == 401
    assert await _sign_in(client, {"X-Forwarded-For": "203.0.113.200"}) == 429
    assert int(r.get(keys.login_attempts(PEER)) or 0) >= LOGIN_FAILURES_MAX
    assert r.get(keys.login_attempts("203.0.113.0")) is None


async def test_behind_a_trusted_proxy_each_client_has_its_own_counter(
        gateway: Any, r: redis.Redis, keys: Keys) -> None:
    client = await gateway(PEER)
    for _ in range(LOGIN_FAILURES_MAX):
        assert await _sign_in(client, {"X-Forwarded-For": "203.0.113.1"}) == 401
    assert await _sign_in(client, {"X-Forwarded-For": "203.0.113.1"}) == 429
    assert await _sign_in(client, {"X-Forwarded-For": "203.0.113.2"}) == 401
    assert await _sign_in(client, {"X-Forwarded-For": "2001:db8:1::5"}) == 401
    assert await _sign_in(client) == 401            # the proxy itself, on its own counter
    assert r.get(keys.login_attempts("2001:db8:1::/64")) == b"1"


async def test_a_forged_left_most_entry_resolves_to_the_right_most_untrusted(
        gateway: Any) -> None:
    client = await gateway(PEER, "10.0.0.0/8")
    for i in range(LOGIN_FAILURES_MAX):             # a new forged entry each time: no escape
        chain = f"198.51.100.{i}, 203.0.113.7, 10.1.2.3"
        assert await _sign_in(client, {"X-Forwarded-For": chain}) == 401
    assert await _sign_in(client, {"X-Forwarded-For": "203.0.113.7"}) == 429
    assert await _sign_in(client, {"X-Forwarded-For": "198.51.100.0"}) == 401


async def test_the_rfc_7239_header_when_the_proxies_set_that_one(gateway: Any) -> None:
    client = await gateway(PEER, "10.0.0.0/8", header="Forwarded")
    for i in range(LOGIN_FAILURES_MAX):
        forwarded = (f'for=198.51.100.{i};proto=http, for="[2001:db8:2::9]:4711";'
                     f"proto=https, for=10.1.2.3")
        # the X-Forwarded-For this proxy passes through untouched is the caller's own
        assert await _sign_in(client, {"Forwarded": forwarded,
                                       "X-Forwarded-For": f"203.0.113.{i}"}) == 401
    assert await _sign_in(client, {"Forwarded": 'for="[2001:db8:2::1]"'}) == 429  # same /64
    assert await _sign_in(client, {"Forwarded": "for=203.0.113.9"}) == 401


@pytest.mark.parametrize("garbage", [
    "not-an-address", "", ",,,", "unknown", "203.0.113.1.5", "for=203.0.113.4",
    "203.0.113.4 , " * 400,                     # longer than the header bound
])
async def test_a_garbage_header_counts_on_the_peer(gateway: Any, garbage: str) -> None:
    client = await gateway(PEER)
    for _ in range(LOGIN_FAILURES_MAX):
        assert await _sign_in(client, {"X-Forwarded-For": garbage}) == 401
    assert await _sign_in(client) == 429


async def test_the_access_log_shows_client_and_peer(
        config: Config, redis_url: str, data_dir: Path, aiohttp_client: Any, eventually: Any,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="deskgate.access")
    server = TestServer(create_app(_config(config, PEER), redis_url, data_dir,
                                   run_workers=False))
    await server.start_server(access_log_class=access_log.AccessLogger,
                              access_log=access_log.LOGGER)
    client = await aiohttp_client(server)
    await client.get("/healthz", headers={"X-Forwarded-For": "evil-text, 203.0.113.7"})
    await client.get("/healthz")

    async def logged() -> list[logging.LogRecord]:
        found = [r for r in caplog.records if r.name == "deskgate.access"]
        return found if len(found) >= 2 else []
    lines = [r.getMessage() for r in await eventually(logged)]
    assert lines[0].endswith(" client=203.0.113.7 peer=127.0.0.1")
    assert lines[1].endswith(" client=127.0.0.1")
    assert "evil" not in "".join(lines)


@pytest.mark.parametrize(("peer", "lines", "header", "client"), [
    ("10.0.0.5", ["[2001:db8::1]:443"], "X-Forwarded-For", "2001:db8::1"),
    ("10.0.0.5", ["203.0.113.4:5555"], "X-Forwarded-For", "203.0.113.4"),
    ("::ffff:10.0.0.5", ["203.0.113.4"], "X-Forwarded-For", "203.0.113.4"),
    ("10.0.0.5", ["::ffff:203.0.113.4"], "X-Forwarded-For", "203.0.113.4"),
    ("10.0.0.5", ["198.51.100.1", "203.0.113.4, 10.0.0.6"], "X-Forwarded-For", "203.0.113.4"),
    ("10.0.0.5", ["10.0.0.7, 10.0.0.6"], "X-Forwarded-For", "10.0.0.5"),   # only proxies
    ("10.0.0.5", [", ".join(["203.0.113.4"] + ["10.0.0.6"] * MAX_HOPS)], "X-Forwarded-For",
     "10.0.0.5"),                                                         # past MAX_HOPS
    ("10.0.0.5", [", ".join(["203.0.113.4"] + ["10.0.0.6"] * (MAX_HOPS - 1))],
     "X-Forwarded-For", "203.0.113.4"),
    ("10.0.0.5", ['For="_hidden", by=10.0.0.6;FOR=203.0.113.4'], "Forwarded", "203.0.113.4"),
    ("10.0.0.5", ["for=_hidden"], "Forwarded", "10.0.0.5"),
    ("10.0.0.5", ["proto=https"], "Forwarded", "10.0.0.5"),
    ("10.0.0.5", ["[2001:db8::1"], "X-Forwarded-For", "10.0.0.5"),
    ("203.0.113.9", ["198.51.100.1"], "X-Forwarded-For", "203.0.113.9"),  # peer not trusted
    ("", ["198.51.100.1"], "X-Forwarded-For", ""),                        # no peer at all
])
def test_resolve(peer: str, lines: list[str], header: str, client: str) -> None:
    assert resolve(peer, lines, proxy_networks(("10.0.0.0/8",)), header) == client


def test_trusted_proxies_are_checked_at_load() -> None:
    config = parse_config("http:\n  trusted_proxies: [10.0.0.5, 10.0.0.0/8, 'fd00::/8']\n")
    assert proxy_networks(config.http.trusted_proxies)[2] == ipaddress.ip_network("fd00::/8")
    for wrong, says in [("[nginx]", "'nginx' is not an IP address or network"),
                        ("[10.0.0.1/8]", "'10.0.0.1/8' is not an IP address or network"),
                        ("10.0.0.0/8", "Expected `array`")]:
        with pytest.raises(ConfigError, match="trusted_proxies") as err:
            parse_config(f"http:\n  trusted_proxies: {wrong}\n", "gw.yaml")
        assert says in err.value.message and "gw.yaml" in err.value.message
    with pytest.raises(ConfigError, match="forwarded_header"):
        parse_config("http:\n  forwarded_header: X-Real-IP\n")


async def test_widget_visitors_are_minted_per_forwarded_client(
        aiohttp_client: Any, prefix: str, redis_url: str, data_dir: Path) -> None:
    """Another limit on the same address: anonymous chat visitors per client."""
    shop = "http://shop.example.cn"
    config = parse_config(f"""
redis_prefix: "{prefix}"
http: {{trusted_proxies: [{PEER}]}}
channels:
  webchat:
    site: {{secret: site-secret-0123456789abcdef, allowed_origins: ["{shop}"],
            anonymous_visitors: true}}
""")
    client = await aiohttp_client(create_app(config, redis_url, data_dir, run_workers=False))

    async def mint(who: str) -> int:
        resp = await client.post("/webchat/site/visitors",
                                 headers={"Origin": shop, "X-Forwarded-For": who})
        return int(resp.status)
    for _ in range(MINTS_PER_WINDOW):
        assert await mint("203.0.113.1") == 201
    assert await mint("203.0.113.1") == 429
    assert await mint("203.0.113.2") == 201
