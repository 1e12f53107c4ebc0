"""What a web-chat visitor or web-form submitter types as their email or phone is a claim,
not a proof: with the triage worker running, over real HTTP, a stranger who types a known
customer's address gets a customer of their own (no history, no tier), cannot pre-claim an
address before its owner writes in, and the claim stays visible to agents as unverified. A site
that signs in its visitors says so (`verified_contacts: true`) and the address joins them."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

import pytest

from deskgate.models.enums import Role
from deskgate.queue.keys import Keys
from deskgate.queue.tokens import create_token

from .test_flow import ticket_of

SECRET = "site-secret-0123456789abcdef"


def _signed(body: bytes) -> dict[str, str]:
    ts = str(int(time.time()))
    mac = hmac.new(SECRET.encode(), ts.encode() + b"." + body, hashlib.sha256).hexdigest()
    return {"X-Deskgate-Timestamp": ts, "X-Deskgate-Signature": f"sha256={mac}",
            "Content-Type": "application/json"}


async def _chat(client: Any, account: str, visitor: str, email: str, text: str) -> str:
    body = json.dumps({"message_id": f"{visitor}-1", "conversation_id": f"conv-{visitor}",
                       "visitor": {"id": visitor, "email": email}, "text": text}).encode()
    resp = await client.post(f"/webhooks/webchat/{account}", data=body, headers=_signed(body))
    assert resp.status == 200
    return (await resp.json())["ids"][0]


async def _api(client: Any, token: str, external_id: str, email: str, text: str) -> str:
    resp = await client.post("/api/v1/messages", headers={"Authorization": f"Bearer {token}"},
                             json={"external_id": external_id, "sender": {"email": email},
                                   "text": text})
    assert resp.status == 202
    return (await resp.json())["id"]


@pytest.fixture
async def setup(hook_client, r, prefix) -> tuple[Any, dict[str, str], str]:
    client = await hook_client({"webchat": {
        "anon": {"secret": SECRET},
        "members": {"secret": SECRET, "verified_contacts": True}}}, run_workers=True)
    keys = Keys(prefix)
    manager = {"Authorization": f"Bearer {create_token(r, keys, Role.MANAGER)[0]}"}
    return client, manager, create_token(r, keys, Role.INTEGRATION)[0]


@pytest.mark.slow
async def test_a_typed_email_does_not_join_the_customer_who_owns_it(setup) -> None:
    client, manager, integration = setup
    owner = await ticket_of(client, manager, await _api(
        client, integration, "crm-1", "vip@example.com", "Where is my order 123456?"))
    stranger = await ticket_of(client, manager, await _chat(
        client, "anon", "stranger", "VIP@example.com", "What is the address on my orders?"))

    assert stranger["customer"]["id"] != owner["customer"]["id"]
    assert {"kind": "email", "value": "vip@example.com", "verified": False} in \
        stranger["customer"]["identities"]
    again = await ticket_of(client, manager, owner["messages"][0]["id"])
    assert again["customer"]["identities"] == [{"kind": "email", "value": "vip@example.com"}]


@pytest.mark.slow
async def test_a_typed_email_cannot_be_claimed_before_its_owner_writes(setup) -> None:
    client, manager, integration = setup
    first = await ticket_of(client, manager, await _chat(
        client, "anon", "early", "later@example.com", "hello"))
    owner = await ticket_of(client, manager, await _api(
        client, integration, "crm-2", "later@example.com", "my invoice is wrong"))
    assert owner["customer"]["id"] != first["customer"]["id"]


@pytest.mark.slow
async def test_a_site_that_verifies_its_visitors_joins_them_by_email(setup) -> None:
    client, manager, integration = setup
    owner = await ticket_of(client, manager, await _api(
        client, integration, "crm-3", "member@example.com", "Where is my parcel?"))
    member = await ticket_of(client, manager, await _chat(
        client, "members", "signed-in", "member@example.com", "any news on my parcel?"))
    assert member["customer"]["id"] == owner["customer"]["id"]
