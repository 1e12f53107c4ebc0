"""POST /api/v1/messages: an external_id is an idempotency key, so a retry (the same message,
from the same integration) is answered "duplicate" — and anything else under a used id is a
409 naming the problem, never a 200 that silently drops the message. Before this, a second
CRM posting its own "42" was told duplicate: true and its customer's message was lost."""

from __future__ import annotations

from deskgate.models.enums import Role
from deskgate.queue.keys import Keys


async def test_a_retry_is_a_duplicate_even_without_received_at(client, auth, message) -> None:
    crm = auth(Role.INTEGRATION)
    first = await client.post("/api/v1/messages", json=message("42"), headers=crm)
    again = await client.post("/api/v1/messages", json=message("42"), headers=crm)
    assert (first.status, again.status) == (202, 200)
    assert (await again.json())["duplicate"] is True


async def test_another_integrations_message_under_a_used_id_is_a_409(client, auth, message, r,
                                                                      prefix) -> None:
    crm, shop = auth(Role.INTEGRATION), auth(Role.INTEGRATION)
    assert (await client.post("/api/v1/messages", json=message("42"), headers=crm)).status == 202
    other = message("42", text="my parcel is broken", sender={"email": "bo@example.com"})
    resp = await client.post("/api/v1/messages", json=other, headers=shop)
    assert resp.status == 409
    error = (await resp.json())["error"]
    assert error["field"] == "external_id" and "another integration" in error["message"]
    assert r.xlen(Keys(prefix).ingest) == 1
    # the same message again from its own integration is still just a retry
    assert (await client.post("/api/v1/messages", json=message("42"), headers=crm)).status == 200


async def test_a_different_message_under_ones_own_used_id_is_a_409(client, auth,
                                                                   message) -> None:
    crm = auth(Role.INTEGRATION)
    assert (await client.post("/api/v1/messages", json=message("7"), headers=crm)).status == 202
    resp = await client.post("/api/v1/messages", json=message("7", text="a new question"),
                             headers=crm)
    assert resp.status == 409
    assert "different message" in (await resp.json())["error"]["message"]


async def test_an_account_name_cannot_reach_into_another_accounts_keys(client, auth,
                                                                       message) -> None:
    # Thread keys and customer ids are "<account>:<key>": account "a:b" with thread "c" was
    # account "a" with thread "b:c" — another integration's conversation and customer.
    crm = auth(Role.INTEGRATION)
    for account in ("a:b", "a b", "{tag}", ""):
        resp = await client.post("/api/v1/messages", headers=crm,
                                 json=message(f"acct-{account}", account=account))
        assert resp.status == 422, account
        assert (await resp.json())["error"]["field"] == "account"
    ok = await client.post("/api/v1/messages", json=message("acct-ok", account="shop_2-cn"),
                           headers=crm)
    assert ok.status == 202
