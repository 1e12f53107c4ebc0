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


def test_check_bounds_text_in_the_providers_unit_and_files_by_the_channels_rules() -> None:
    from datetime import UTC, datetime

    from deskgate.connectors.send.base import Rejected, check
    from deskgate.models.enums import Channel
    from deskgate.models.outbound import OutboundAttachment, OutboundMessage, Recipient

    def reply(text: str, *files: tuple[str, int], channel: Channel = Channel.WECOM
              ) -> OutboundMessage:
        return OutboundMessage(
            reply_id="r1", ticket_id="DG-1", recipient=Recipient(channel, "kf", "u1"),
            text=text, author="ann", created_at=datetime.now(UTC),
            attachments=tuple(OutboundAttachment(f"f{i}", ctype, size, "sha256:" + "0" * 64)
                              for i, (ctype, size) in enumerate(files)))

    check(reply("中" * 3), "WeCom", 9, in_bytes=True)                # 9 bytes: fits
    with pytest.raises(Rejected, match="at most 8 bytes of text"):
        check(reply("中" * 3), "WeCom", 8, in_bytes=True)
    check(reply("中" * 8), "LINE", 8)                                 # 8 characters: fits
    with pytest.raises(Rejected, match="at most 7 characters"):
        check(reply("中" * 8), "LINE", 7)
    check(reply("x" * 100_000), "WeChat", None)                      # no documented limit
    mb = 1 << 20
    kinds = check(reply("hi", ("image/png", mb), ("application/pdf", 20 * mb)), "WeCom", 10)
    assert [k.kind for k in kinds] == ["image", "file"]
    with pytest.raises(Rejected, match=r"cannot send f0: it is too large; WeCom takes image"):
        check(reply("hi", ("application/pdf", 20 * mb + 1)), "WeCom", 10)
    with pytest.raises(Rejected, match="cannot send f0: it is application/pdf.*email"):
        check(reply("hi", ("application/pdf", 10), channel=Channel.LINE), "LINE", 10)
    with pytest.raises(Rejected, match="at most 5 MB of files per message"):
        check(reply("", *[("image/jpeg", 2 * mb)] * 3, channel=Channel.SMS), "Twilio", 10)
    with pytest.raises(Rejected, match="at most 4 file"):
        check(reply("", *[("image/jpeg", 10)] * 5, channel=Channel.LINE), "LINE", 10)
