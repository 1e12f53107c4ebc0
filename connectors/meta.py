"""What WhatsApp Cloud API, Messenger and Instagram webhooks share (one Meta app each):

- the subscription handshake: GET ?hub.mode=subscribe&hub.verify_token=…&hub.challenge=… is
  answered with the challenge when the verify token is ours;
- the delivery signature: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(app secret, raw body)>`;
- the answer Meta expects: 200 quickly, else it retries (with the same body) for hours.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, TypeVar

import msgspec

from deskgate.connectors.base import (
    Reply,
    Unauthorized,
    WebhookRequest,
    check_equal,
    decode_json,
    hmac_hex,
    load_settings,
    require,
)
from deskgate.connectors.send.http import check_api_base
from deskgate.models.outbound import TemplateSpec

SIGNATURE_HEADER = "X-Hub-Signature-256"
EVENT_RECEIVED = Reply(200, b"EVENT_RECEIVED")

T = TypeVar("T")


GRAPH_API = "https://graph.facebook.com/v21.0"


class MetaSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    app_secret: str
    verify_token: str
    default_region: str = "CN"
    skill: str = ""
    # outbound (connectors/send): a system-user / page access token, WhatsApp's sending
    # phone number id, Messenger's HUMAN_AGENT tag (needs that permission granted to the app)
    access_token: str = ""
    phone_number_id: str = ""
    human_agent: bool = False
    api_base: str = GRAPH_API
    # WhatsApp templates agents may send once the 24-hour window has closed
    templates: Annotated[tuple[TemplateSpec, ...], msgspec.Meta(max_length=200)] = ()

    def __post_init__(self) -> None:
        if not self.app_secret or not self.verify_token:
            raise ValueError("app_secret and verify_token must not be empty")
        check_api_base(self.api_base)


def sign(app_secret: str, body: bytes) -> str:
    return "sha256=" + hmac_hex(app_secret.encode(), body)


class MetaConnector:
    """The shared part; subclasses name the channel and parse `decode(body, Envelope)`."""

    name: str
    settings_type = MetaSettings

    def settings(self, raw: Mapping[str, Any]) -> MetaSettings:
        return load_settings(raw, MetaSettings, f"channels.{self.name}")

    def handshake(self, settings: MetaSettings, request: WebhookRequest) -> Reply:
        q = request.query
        require(q.get("hub.mode") == "subscribe", "hub.mode must be subscribe")
        challenge = q.get("hub.challenge", "")
        require(0 < len(challenge) <= 256, "hub.challenge is missing or too long")
        given = q.get("hub.verify_token", "")
        if not given:
            raise Unauthorized("missing_signature", "hub.verify_token is missing", status=401)
        check_equal(settings.verify_token, given, reason="bad_verify_token")
        return Reply(200, challenge.encode())

    @staticmethod
    def verify(settings: MetaSettings, request: WebhookRequest) -> None:
        check_equal(sign(settings.app_secret, request.body), request.header(SIGNATURE_HEADER))

    @staticmethod
    def decode(body: bytes, type_: type[T]) -> T:
        return decode_json(body, type_, "the expected payload shape")
