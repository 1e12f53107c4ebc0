"""Which inbox a recipient belongs to: exact address, then @domain, then a catch-all."""

from __future__ import annotations

import msgspec
import pytest

from deskgate.connectors.email_config import EmailConfig, nameserver_address
from deskgate.gateway.config import ConfigError, parse_config


def _config(*inboxes: dict) -> EmailConfig:
    return msgspec.convert({"inboxes": list(inboxes)}, EmailConfig)


def test_exact_address_then_domain_then_catch_all() -> None:
    cfg = _config({"address": "*", "account": "any"},
                  {"address": "@shop.cn", "account": "cn"},
                  {"address": "billing@shop.cn", "account": "billing"})
    assert cfg.inbox_for("Billing@Shop.cn").account == "billing"
    assert cfg.inbox_for("help@shop.cn").account == "cn"
    assert cfg.inbox_for("someone@elsewhere.example").account == "any"
    assert cfg.inbox_for("") is None, "an empty recipient belongs to no inbox"
    assert not cfg.is_own("someone@elsewhere.example"), "a catch-all is not our own address"


def test_without_a_catch_all_unknown_recipients_have_no_inbox() -> None:
    cfg = _config({"address": "support@shop.cn", "account": "s"})
    assert cfg.inbox_for("nobody@shop.cn") is None


def test_an_inbox_that_is_no_address_is_refused() -> None:
    with pytest.raises(msgspec.ValidationError, match="neither an address"):
        _config({"address": "support", "account": "s"})


@pytest.mark.parametrize("entry", ["dns.example.com", "127.0.0.1:99999", "1.2.3.4:x", ""])
def test_a_bad_nameserver_is_a_clear_config_error(entry: str) -> None:
    with pytest.raises(ConfigError, match="nameservers"):
        parse_config(f'email: {{sender_auth: {{nameservers: ["{entry}"]}}}}')


def test_nameservers_with_and_without_ports() -> None:
    cfg = parse_config('email: {sender_auth: {nameservers: ["10.0.0.53", "127.0.0.1:5353", '
                       '"[::1]:53"], trusted_relays: ["10.0.0.0/24"]}}')
    assert [nameserver_address(n) for n in cfg.email.sender_auth.nameservers] == [
        ("10.0.0.53", 53), ("127.0.0.1", 5353), ("::1", 53)]
