"""Credits over HTTP: balance, history, purchases by the payment provider, admin adjustments."""

from __future__ import annotations

import uuid

from aiohttp.test_utils import TestClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db import ledger
from db.enums import TransactionType
from tests.integration.api.conftest import SignIn
from tests.integration.api.money import balance, ledger_holds, postings

Client = TestClient[object, object]
Sessions = async_sessionmaker[AsyncSession]


async def test_balance_is_the_signed_in_users_own(client: Client, sign_in: SignIn) -> None:
    me = await sign_in(credits=50)
    await sign_in(credits=7)
    response = await client.get("/api/v1/credits", headers=me.headers)
    assert response.status == 200
    assert await response.json() == {"balance": 50}


async def test_balance_needs_a_token(client: Client) -> None:
    response = await client.get("/api/v1/credits")
    assert response.status == 401
    assert (await response.json(content_type=None))["code"] == "NOT_AUTHENTICATED"


async def test_transactions_are_mine_newest_first_and_filter_by_type(
    client: Client, sign_in: SignIn, session_factory: Sessions
) -> None:
    me = await sign_in(credits=100)
    other = await sign_in(credits=30)
    async with session_factory() as session, session.begin():
        await ledger.post(session, user_id=me.user_id, amount=-10, type=TransactionType.BACKTEST)
        await ledger.post(session, user_id=me.user_id, amount=4, type=TransactionType.REFUND)
    everything = await client.get("/api/v1/credits/transactions", headers=me.headers)
    refunds = await client.get(
        "/api/v1/credits/transactions", params={"type": "REFUND"}, headers=me.headers
    )
    page = await everything.json()
    assert everything.status == 200
    assert [item["amount"] for item in page["items"]] == [4, -10, 100]
    assert [item["balance_after"] for item in page["items"]] == [94, 90, 100]
    assert page["total"] == 3 and page["pages"] == 1
    assert [item["type"] for item in (await refunds.json())["items"]] == ["REFUND"]
    assert other.user_id != me.user_id


async def test_transactions_are_paged(
    client: Client, sign_in: SignIn, session_factory: Sessions
) -> None:
    me = await sign_in(credits=5)
    async with session_factory() as session, session.begin():
        for _ in range(4):
            await ledger.post(session, user_id=me.user_id, amount=1, type=TransactionType.REFUND)
    response = await client.get(
        "/api/v1/credits/transactions", params={"page": 2, "size": 2}, headers=me.headers
    )
    page = await response.json()
    assert [item["balance_after"] for item in page["items"]] == [7, 6]
    assert (page["total"], page["page"], page["size"], page["pages"]) == (5, 2, 2, 3)


async def test_transactions_refuse_an_unknown_type_and_a_page_too_big(
    client: Client, sign_in: SignIn
) -> None:
    me = await sign_in()
    bad_type = await client.get(
        "/api/v1/credits/transactions", params={"type": "GIFT"}, headers=me.headers
    )
    big_page = await client.get(
        "/api/v1/credits/transactions", params={"size": 101}, headers=me.headers
    )
    for response, field in ((bad_type, "type"), (big_page, "size")):
        body = await response.json(content_type=None)
        assert response.status == 422
        assert body["code"] == "VALIDATION_ERROR"
        assert body["errors"][0]["loc"] == ["query", field]


async def test_the_payment_provider_charges_a_purchase_once_per_reference(
    client: Client, sign_in: SignIn, service_headers: dict[str, str], session_factory: Sessions
) -> None:
    buyer = await sign_in(credits=5)
    charge = {"user_id": str(buyer.user_id), "amount": 250, "reference": "pi_3Nx8"}
    first = await client.post("/api/v1/credits/charge", json=charge, headers=service_headers)
    again = await client.post("/api/v1/credits/charge", json=charge, headers=service_headers)
    body = await first.json()
    assert first.status == 201 and again.status == 201
    assert await again.json() == body
    assert body["amount"] == 250 and body["balance_after"] == 255 and body["type"] == "PURCHASE"
    assert await balance(session_factory, buyer.user_id) == 255
    purchases = await postings(session_factory, buyer.user_id, TransactionType.PURCHASE)
    assert [amount for amount, _ in purchases] == [5, 250]
    assert await ledger_holds(session_factory)


async def test_a_uuid_reference_is_the_ledger_reference(
    client: Client, sign_in: SignIn, service_headers: dict[str, str]
) -> None:
    buyer = await sign_in()
    reference = str(uuid.uuid4())
    response = await client.post(
        "/api/v1/credits/charge",
        json={"user_id": str(buyer.user_id), "amount": 3, "reference": reference},
        headers=service_headers,
    )
    assert (await response.json())["reference_id"] == reference


async def test_a_reference_charged_with_another_amount_is_409_and_moves_nothing(
    client: Client, sign_in: SignIn, service_headers: dict[str, str], session_factory: Sessions
) -> None:
    buyer = await sign_in()
    charge = {"user_id": str(buyer.user_id), "amount": 100, "reference": "order-1"}
    await client.post("/api/v1/credits/charge", json=charge, headers=service_headers)
    response = await client.post(
        "/api/v1/credits/charge", json=charge | {"amount": 900}, headers=service_headers
    )
    assert response.status == 409
    assert (await response.json(content_type=None))["code"] == "CHARGE_REFERENCE_REUSED"
    assert await balance(session_factory, buyer.user_id) == 100


async def test_an_admin_may_charge_and_a_user_may_not(
    client: Client, sign_in: SignIn, session_factory: Sessions
) -> None:
    admin = await sign_in(is_superuser=True)
    user = await sign_in()
    charge = {"user_id": str(user.user_id), "amount": 40, "reference": "manual-7"}
    by_user = await client.post("/api/v1/credits/charge", json=charge, headers=user.headers)
    by_admin = await client.post("/api/v1/credits/charge", json=charge, headers=admin.headers)
    anonymous = await client.post("/api/v1/credits/charge", json=charge)
    assert by_user.status == 403
    assert (await by_user.json(content_type=None))["code"] == "ADMIN_ONLY"
    assert anonymous.status == 401
    assert by_admin.status == 201
    assert await balance(session_factory, user.user_id) == 40


async def test_charging_an_unknown_user_is_404(
    client: Client, service_headers: dict[str, str]
) -> None:
    response = await client.post(
        "/api/v1/credits/charge",
        json={"user_id": str(uuid.uuid4()), "amount": 1, "reference": "x"},
        headers=service_headers,
    )
    assert response.status == 404
    assert (await response.json(content_type=None))["code"] == "NO_CREDIT_ACCOUNT"


async def test_a_charge_must_be_positive_complete_and_nothing_else(
    client: Client, sign_in: SignIn, service_headers: dict[str, str], session_factory: Sessions
) -> None:
    buyer = await sign_in()
    valid = {"user_id": str(buyer.user_id), "amount": 1, "reference": "r"}
    bodies = {
        "amount": valid | {"amount": 0},
        "reference": valid | {"reference": "two words"},
        "user_id": valid | {"user_id": "not-a-uuid"},
        "extra": valid | {"extra": 1},
    }
    for field, body in bodies.items():
        response = await client.post("/api/v1/credits/charge", json=body, headers=service_headers)
        problem = await response.json(content_type=None)
        assert response.status == 422, field
        assert problem["code"] == "VALIDATION_ERROR"
        assert problem["errors"][0]["loc"] == ["body", field]
    assert await balance(session_factory, buyer.user_id) == 0


async def test_an_admin_adjusts_a_balance_up_and_down(
    client: Client, sign_in: SignIn, session_factory: Sessions
) -> None:
    admin = await sign_in(is_superuser=True)
    user = await sign_in(credits=10)
    url = f"/api/v1/admin/credits/{user.user_id}"
    up = await client.post(
        url, json={"amount": 15, "description": "goodwill"}, headers=admin.headers
    )
    down = await client.post(
        url, json={"amount": -25, "description": "fraud"}, headers=admin.headers
    )
    assert up.status == 201 and down.status == 201
    assert (await down.json())["balance_after"] == 0
    adjustments = await postings(session_factory, user.user_id, TransactionType.ADMIN_ADJUSTMENT)
    assert [amount for amount, _ in adjustments] == [15, -25]
    assert await balance(session_factory, user.user_id) == 0
    assert await ledger_holds(session_factory)


async def test_an_adjustment_below_zero_is_402_and_moves_nothing(
    client: Client, sign_in: SignIn, session_factory: Sessions
) -> None:
    admin = await sign_in(is_superuser=True)
    user = await sign_in(credits=10)
    response = await client.post(
        f"/api/v1/admin/credits/{user.user_id}",
        json={"amount": -11, "description": "too much"},
        headers=admin.headers,
    )
    assert response.status == 402
    assert (await response.json(content_type=None))["code"] == "INSUFFICIENT_CREDITS"
    assert await balance(session_factory, user.user_id) == 10


async def test_an_adjustment_needs_an_amount_and_a_reason(client: Client, sign_in: SignIn) -> None:
    admin = await sign_in(is_superuser=True)
    user = await sign_in()
    url = f"/api/v1/admin/credits/{user.user_id}"
    for body, field in (
        ({"amount": 0, "description": "nothing"}, "amount"),
        ({"amount": 5, "description": ""}, "description"),
        ({"amount": 5}, "description"),
    ):
        response = await client.post(url, json=body, headers=admin.headers)
        problem = await response.json(content_type=None)
        assert response.status == 422
        assert problem["errors"][0]["loc"] == ["body", field]
    bad_path = await client.post(
        "/api/v1/admin/credits/nope", json={"amount": 1, "description": "x"}, headers=admin.headers
    )
    assert bad_path.status == 422


async def test_adjustments_are_for_admins_only(
    client: Client, sign_in: SignIn, service_headers: dict[str, str], session_factory: Sessions
) -> None:
    user = await sign_in()
    body = {"amount": 1000, "description": "me"}
    url = f"/api/v1/admin/credits/{user.user_id}"
    by_user = await client.post(url, json=body, headers=user.headers)
    anonymous = await client.post(url, json=body)
    assert by_user.status == 403 and anonymous.status == 401
    assert await balance(session_factory, user.user_id) == 0


async def test_adjusting_an_unknown_user_is_404(client: Client, sign_in: SignIn) -> None:
    admin = await sign_in(is_superuser=True)
    response = await client.post(
        f"/api/v1/admin/credits/{uuid.uuid4()}",
        json={"amount": 1, "description": "x"},
        headers=admin.headers,
    )
    assert response.status == 404
