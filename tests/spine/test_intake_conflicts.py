"""POST /api/v1/messages: an external_id is an idempotency key, so a retry (the same message,
from the same integration) is answered "duplicate" — and anything else under a used id is a
409 naming the problem, never a 200 that silently drops the message. Before this, a second
CRM posting its own "42" was told duplicate: true and its customer's message was lost. A token
bound to an account posts for that account only, so bound integrations share no keys."""

from __future__ import annotations

from deskgate.models.codec import decode
from deskgate.models.enums import Role
from deskgate.models.message import InboundMessage
from deskgate.queue.keys import Keys
from deskgate.queue.tokens import create_token


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


async def test_a_token_bound_to_an_account_posts_for_that_account_only(
        client, message, r, keys) -> None:
    def bearer(account: str) -> dict[str, str]:
        token = create_token(r, keys, Role.INTEGRATION, account=account)[0]
        return {"Authorization": f"Bearer {token}"}

    shop_a, shop_b = bearer("shop_a"), bearer("shop_b")
    crm = message("42", sender={"id": "cust-1"})
    refused = await client.post("/api/v1/messages", headers=shop_a,
                                json={**crm, "account": "shop_b"})
    assert refused.status == 403
    assert (await refused.json())["error"]["field"] == "account"
    assert r.xlen(keys.ingest) == 0
    # Without an account each posts for its own: the same external id and sender id are two
    # messages of two customers, not a 409 and not one shared customer.
    for headers in (shop_a, shop_b):
        assert (await client.post("/api/v1/messages", json=crm, headers=headers)).status == 202
    named = await client.post("/api/v1/messages", headers=shop_a,
                              json={**message("43"), "account": "shop_a"})
    assert named.status == 202
    posted = [decode(fields[b"m"], InboundMessage) for _, fields in r.xrange(keys.ingest)]
    assert [(m.account, m.sender.identities[0].value) for m in posted] == [
        ("shop_a", "api:shop_a:cust-1"), ("shop_b", "api:shop_b:cust-1"),
        ("shop_a", "li@example.cn")]


async def test_only_an_integration_token_is_bound_to_an_account(client, auth) -> None:
    for body in ({"role": "manager", "account": "shop_a"},
                 {"role": "integration", "account": "a:b"}):
        resp = await client.post("/api/v1/tokens", json=body, headers=auth(Role.ADMIN))
        assert resp.status == 422 and (await resp.json())["error"]["field"] == "account"
    made = await client.post("/api/v1/tokens", json={"role": "integration", "account": "shop_a"},
                             headers=auth(Role.ADMIN))
    assert made.status == 201 and (await made.json())["account"] == "shop_a"
