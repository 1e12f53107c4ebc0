"""Every provider sender is registered under the name of the connector whose account settings
it reads, and those settings carry its outbound fields with an api_base that refuses what is
not an http(s) base URL."""

from __future__ import annotations

import msgspec
import pytest

from deskgate.connectors.base import SettingsError
from deskgate.connectors.registry import CONNECTORS
from deskgate.connectors.send.http import retry_after
from deskgate.connectors.send.providers import PROVIDER_SENDERS


def test_each_sender_has_its_connector_and_an_api_base() -> None:
    assert set(PROVIDER_SENDERS) == {"whatsapp", "messenger", "instagram", "telegram",
                                     "wechat", "wecom", "twilio", "line"}
    for name, sender in PROVIDER_SENDERS.items():
        assert sender.name == name
        fields = {f.name: f for f in msgspec.structs.fields(CONNECTORS[name].settings_type)}
        assert fields["api_base"].default.startswith("https://"), name


@pytest.mark.parametrize("base", ["ftp://x", "https://x/?a=1", "api.telegram.org", ""])
def test_api_base_must_be_an_http_url(base: str) -> None:
    with pytest.raises(SettingsError, match="api_base"):
        CONNECTORS["telegram"].settings({"secret_token": "s" * 20, "api_base": base})


def test_retry_after_reads_seconds_and_dates() -> None:
    assert retry_after("120") == 120
    assert retry_after("-5") == 0
    assert retry_after("nonsense") is None and retry_after("") is None
    assert retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0      # in the past
    assert retry_after("99999999") == 24 * 3600                    # capped
