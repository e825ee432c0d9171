"""Royalties over HTTP: an author's own, and the admin's monthly preview, create, pay,
batch pay and cancel (all through settlement/service.py)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db.enums import TransactionType
from db.models import AuthorRoyalty, Template, TemplateClone
from tests.factories import add_strategy, add_user
from tests.integration.api.conftest import SignedIn, SignIn
from tests.integration.api.money import balance, ledger_holds, postings

Client = TestClient[object, object]
Sessions = async_sessionmaker[AsyncSession]

MONTH = {"year": 2025, "month": 2}
IN_MONTH = dt.datetime(2025, 2, 14, 9, tzinfo=dt.UTC)


async def add_clones(
    session_factory: Sessions, author: uuid.UUID, prices: list[int], at: dt.datetime = IN_MONTH
) -> None:
    """Clones of a template of `author`, one per price, made at `at`."""
    async with session_factory() as session, session.begin():
        strategy = await add_strategy(session, author)
        template = (
            await session.execute(
                insert(Template)
                .values(strategy_id=strategy, author_id=author, name="template")
                .returning(Template.id)
            )
        ).scalar_one()
        for price in prices:
            cloner = await add_user(session)
            await session.execute(
                insert(TemplateClone).values(
                    template_id=template,
                    author_id=author,
                    cloner_id=cloner,
                    price_credits=price,
                    created_at=at,
                )
            )


async def royalty_rows(session_factory: Sessions) -> list[AuthorRoyalty]:
    async with session_factory() as session:
        return list(await session.scalars(select(AuthorRoyalty).order_by(AuthorRoyalty.author_id)))


async def code_of(response: Any) -> str:
    return str((await response.json(content_type=None))["code"])


async def create_month(client: Client, admin: SignedIn, month: dict[str, int] = MONTH) -> Any:
    response = await client.post(
        "/api/v1/admin/royalties/create", json=month, headers=admin.headers
    )
    assert response.status == 201
    return await response.json()


async def test_calculate_previews_a_month_and_writes_nothing(
    client: Client, sign_in: SignIn, session_factory: Sessions
) -> None:
    admin, author = await sign_in(is_superuser=True), await sign_in(manual_tier=5)
    await add_clones(session_factory, author.user_id, [300, 700])
    await add_clones(
        session_factory, author.user_id, [999], at=dt.datetime(2025, 3, 1, tzinfo=dt.UTC)
    )
    response = await client.post(
        "/api/v1/admin/royalties/calculate", json=MONTH, headers=admin.headers
    )
    assert response.status == 200
    assert await response.json() == {
        "year": 2025,
        "month": 2,
        "lines": [
            {
                "author_id": str(author.user_id),
                "total_clones": 2,
                "total_revenue_credits": 1000,
                "royalty_rate_bps": 2000,
                "royalty_amount_credits": 200,
            }
        ],
        "total_royalty_credits": 200,
    }
    assert await royalty_rows(session_factory) == []


async def test_create_writes_a_finished_months_royalties_once(
    client: Client, sign_in: SignIn, session_factory: Sessions
) -> None:
    admin, first, second = (
        await sign_in(is_superuser=True),
        await sign_in(),
        await sign_in(),
    )
    await add_clones(session_factory, first.user_id, [300, 700])
    await add_clones(session_factory, second.user_id, [55])
    created = await create_month(client, admin)
    again = await create_month(client, admin)
    today = dt.datetime.now(dt.UTC).date()
    current = await client.post(
        "/api/v1/admin/royalties/create",
        json={"year": today.year, "month": today.month},
        headers=admin.headers,
    )
    assert created["royalties_written"] == 2
    assert {
        (r["author_id"], r["royalty_amount_credits"], r["status"]) for r in created["royalties"]
    } == {
        (str(first.user_id), 100, "PENDING"),
        (str(second.user_id), 5, "PENDING"),
    }
    assert again["royalties_written"] == 0 and again["royalties"] == []
    assert current.status == 409 and await code_of(current) == "MONTH_NOT_FINISHED"
    assert len(await royalty_rows(session_factory)) == 2
    assert await balance(session_factory, first.user_id) == 0


async def test_month_bodies_are_validated(client: Client, sign_in: SignIn) -> None:
    admin = await sign_in(is_superuser=True)
    for body in (
        {"year": 2025, "month": 13},
        {"year": 1999, "month": 1},
        {"year": 2025},
        {"year": 2025, "month": 1, "x": 1},
    ):
        for action in ("calculate", "create", "batch-pay"):
            response = await client.post(
                f"/api/v1/admin/royalties/{action}", json=body, headers=admin.headers
            )
            assert response.status == 422, (action, body)
            assert await code_of(response) == "VALIDATION_ERROR"


async def test_paying_a_royalty_posts_it_once(
    client: Client, sign_in: SignIn, session_factory: Sessions
) -> None:
    admin, author = await sign_in(is_superuser=True), await sign_in()
    await add_clones(session_factory, author.user_id, [300, 700])
    (royalty,) = (await create_month(client, admin))["royalties"]
    url = f"/api/v1/admin/royalties/{royalty['id']}/pay"
    paid = await client.post(url, headers=admin.headers)
    twice = await client.post(url, headers=admin.headers)
    unknown = await client.post(
        f"/api/v1/admin/royalties/{uuid.uuid4()}/pay", headers=admin.headers
    )
    body = await paid.json()
    assert paid.status == 200 and body["status"] == "PAID" and body["paid_at"]
    assert twice.status == 409 and await code_of(twice) == "ROYALTY_NOT_PENDING"
    assert unknown.status == 404 and await code_of(unknown) == "ROYALTY_NOT_FOUND"
    assert await balance(session_factory, author.user_id) == 100
    assert await postings(session_factory, author.user_id, TransactionType.ROYALTY) == [
        (100, uuid.UUID(royalty["id"]))
    ]
    assert await ledger_holds(session_factory)


async def test_batch_pay_pays_every_pending_royalty_of_the_month(
    client: Client, sign_in: SignIn, session_factory: Sessions
) -> None:
    admin = await sign_in(is_superuser=True)
    first, second, cancelled = await sign_in(), await sign_in(), await sign_in()
    await add_clones(session_factory, first.user_id, [1000])
    await add_clones(session_factory, second.user_id, [2000])
    await add_clones(session_factory, cancelled.user_id, [5000])
    royalties = {r["author_id"]: r["id"] for r in (await create_month(client, admin))["royalties"]}
    cancel = await client.post(
        f"/api/v1/admin/royalties/{royalties[str(cancelled.user_id)]}/cancel", headers=admin.headers
    )
    paid = await client.post("/api/v1/admin/royalties/batch-pay", json=MONTH, headers=admin.headers)
    nothing_left = await client.post(
        "/api/v1/admin/royalties/batch-pay", json=MONTH, headers=admin.headers
    )
    assert cancel.status == 200 and (await cancel.json())["status"] == "CANCELLED"
    assert await paid.json() == {"year": 2025, "month": 2, "royalties_paid": 2, "credits_paid": 300}
    assert (await nothing_left.json())["credits_paid"] == 0
    assert await balance(session_factory, first.user_id) == 100
    assert await balance(session_factory, second.user_id) == 200
    assert await balance(session_factory, cancelled.user_id) == 0
    statuses = {str(r.author_id): r.status for r in await royalty_rows(session_factory)}
    assert statuses == {
        str(first.user_id): "PAID",
        str(second.user_id): "PAID",
        str(cancelled.user_id): "CANCELLED",
    }


async def test_only_a_pending_royalty_can_be_cancelled(
    client: Client, sign_in: SignIn, session_factory: Sessions
) -> None:
    admin, author = await sign_in(is_superuser=True), await sign_in()
    await add_clones(session_factory, author.user_id, [100])
    (royalty,) = (await create_month(client, admin))["royalties"]
    await client.post(f"/api/v1/admin/royalties/{royalty['id']}/pay", headers=admin.headers)
    refused = await client.post(
        f"/api/v1/admin/royalties/{royalty['id']}/cancel", headers=admin.headers
    )
    assert refused.status == 409 and await code_of(refused) == "ROYALTY_NOT_PENDING"
    (row,) = await royalty_rows(session_factory)
    assert row.status == "PAID"


async def test_authors_see_their_own_royalties_and_admins_everyones(
    client: Client, sign_in: SignIn, session_factory: Sessions
) -> None:
    admin, me, other = await sign_in(is_superuser=True), await sign_in(), await sign_in()
    await add_clones(session_factory, me.user_id, [100])
    await add_clones(session_factory, other.user_id, [100])
    await add_clones(session_factory, me.user_id, [100], at=dt.datetime(2024, 12, 3, tzinfo=dt.UTC))
    await create_month(client, admin)
    await create_month(client, admin, {"year": 2024, "month": 12})
    mine = await (await client.get("/api/v1/royalties", headers=me.headers)).json()
    mine_2024 = await client.get("/api/v1/royalties", params={"year": "2024"}, headers=me.headers)
    everyone = await (await client.get("/api/v1/admin/royalties", headers=admin.headers)).json()
    filtered = await client.get(
        "/api/v1/admin/royalties",
        params={"year": "2025", "month": "2", "author": str(other.user_id), "status": "PENDING"},
        headers=admin.headers,
    )
    assert [(r["year"], r["month"]) for r in mine["items"]] == [(2025, 2), (2024, 12)]
    assert {r["author_id"] for r in mine["items"]} == {str(me.user_id)}
    assert [r["month"] for r in (await mine_2024.json())["items"]] == [12]
    assert everyone["total"] == 3
    assert [r["author_id"] for r in (await filtered.json())["items"]] == [str(other.user_id)]
    bad = await client.get("/api/v1/admin/royalties", params={"month": "0"}, headers=admin.headers)
    assert bad.status == 422


async def test_admin_royalty_routes_refuse_users_and_strangers(
    client: Client, sign_in: SignIn, session_factory: Sessions
) -> None:
    user = await sign_in()
    some_id = uuid.uuid4()
    calls = [
        ("GET", "/api/v1/admin/royalties", None),
        ("POST", "/api/v1/admin/royalties/calculate", MONTH),
        ("POST", "/api/v1/admin/royalties/create", MONTH),
        ("POST", f"/api/v1/admin/royalties/{some_id}/pay", None),
        ("POST", "/api/v1/admin/royalties/batch-pay", MONTH),
        ("POST", f"/api/v1/admin/royalties/{some_id}/cancel", None),
    ]
    for method, url, body in calls:
        as_user = await client.request(method, url, json=body, headers=user.headers)
        anonymous = await client.request(method, url, json=body)
        assert as_user.status == 403 and await code_of(as_user) == "ADMIN_ONLY", url
        assert anonymous.status == 401, url
    assert (await client.get("/api/v1/royalties")).status == 401
    async with session_factory() as session:
        assert await session.scalar(select(func.count()).select_from(AuthorRoyalty)) == 0
