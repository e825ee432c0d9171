"""Templates over HTTP: publish, browse, change, unpublish, and the paid clone."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db.enums import StrategyStatus, TransactionType
from db.models import Strategy, Template, TemplateClone
from settlement.service import preview_royalties
from tests.factories import add_strategy, policy
from tests.integration.api.conftest import SignedIn, SignIn
from tests.integration.api.money import balance, ledger_holds, posting_count, postings

Client = TestClient[object, object]
Sessions = async_sessionmaker[AsyncSession]

DEFINITION: dict[str, Any] = {
    "nodes": [
        {"id": "t", "type": "trigger", "config": {"every": "1h"}},
        {"id": "a", "type": "action", "config": {"side": "BUY"}},
    ],
    "edges": [{"from_node": "t", "to_node": "a"}],
}


async def strategy_of(session_factory: Sessions, owner: SignedIn, **values: Any) -> uuid.UUID:
    async with session_factory() as session, session.begin():
        return await add_strategy(session, owner.user_id, definition=DEFINITION, **values)


async def publish(
    client: Client,
    owner: SignedIn,
    strategy_id: uuid.UUID,
    *,
    price: int = 10,
    name: str = "Momentum",
    description: str | None = "buys strength",
) -> dict[str, Any]:
    response = await client.post(
        f"/api/v1/strategies/{strategy_id}/publish",
        json={"name": name, "description": description, "price_credits": price},
        headers=owner.headers,
    )
    assert response.status == 201, await response.text()
    body: dict[str, Any] = await response.json()
    return body


async def published(
    client: Client, sign_in: SignIn, session_factory: Sessions, *, price: int = 10
) -> tuple[SignedIn, dict[str, Any]]:
    author = await sign_in()
    return author, await publish(
        client, author, await strategy_of(session_factory, author), price=price
    )


async def clone(
    client: Client, cloner: SignedIn, template_id: object, key: str | None = None
) -> Any:
    headers = cloner.headers if key is None else cloner.headers | {"Idempotency-Key": key}
    return await client.post(f"/api/v1/templates/{template_id}/clone", headers=headers)


async def template_row(session_factory: Sessions, template_id: object) -> Template:
    async with session_factory() as session:
        return await session.get_one(Template, uuid.UUID(str(template_id)))


async def clone_rows(session_factory: Sessions) -> list[TemplateClone]:
    async with session_factory() as session:
        return list((await session.scalars(select(TemplateClone))).all())


# --- publish -----------------------------------------------------------------------------


async def test_publishing_makes_an_active_template_of_my_strategy(
    client: Client, sign_in: SignIn, session_factory: Sessions
) -> None:
    author = await sign_in()
    strategy_id = await strategy_of(session_factory, author)
    body = await publish(client, author, strategy_id, price=25)
    assert body["strategy_id"] == str(strategy_id) and body["author_id"] == str(author.user_id)
    assert body["price_credits"] == 25 and body["clone_count"] == 0 and body["is_active"]
    row = await template_row(session_factory, body["id"])
    assert (row.name, row.description, row.is_active) == ("Momentum", "buys strength", True)


async def test_a_strategy_has_one_active_template_at_a_time(
    client: Client, sign_in: SignIn, session_factory: Sessions
) -> None:
    author = await sign_in()
    strategy_id = await strategy_of(session_factory, author)
    first = await publish(client, author, strategy_id)
    again = await client.post(
        f"/api/v1/strategies/{strategy_id}/publish",
        json={"name": "again", "price_credits": 1},
        headers=author.headers,
    )
    assert again.status == 409
    assert (await again.json(content_type=None))["code"] == "TEMPLATE_ALREADY_PUBLISHED"
    await client.delete(f"/api/v1/templates/{first['id']}", headers=author.headers)
    republished = await publish(client, author, strategy_id, name="v2")
    assert republished["id"] != first["id"]


async def test_publishing_someone_elses_or_an_archived_strategy_is_refused(
    client: Client, sign_in: SignIn, session_factory: Sessions
) -> None:
    author = await sign_in()
    intruder = await sign_in()
    strategy_id = await strategy_of(session_factory, author)
    archived_id = await strategy_of(session_factory, author, status=StrategyStatus.ARCHIVED.value)
    body = {"name": "mine now", "price_credits": 0}
    stolen = await client.post(
        f"/api/v1/strategies/{strategy_id}/publish", json=body, headers=intruder.headers
    )
    archived = await client.post(
        f"/api/v1/strategies/{archived_id}/publish", json=body, headers=author.headers
    )
    anonymous = await client.post(f"/api/v1/strategies/{strategy_id}/publish", json=body)
    assert stolen.status == 404
    assert (await stolen.json(content_type=None))["code"] == "STRATEGY_NOT_FOUND"
    assert archived.status == 409
    assert (await archived.json(content_type=None))["code"] == "STRATEGY_ARCHIVED"
    assert anonymous.status == 401
    async with session_factory() as session:
        assert await session.scalar(select(func.count()).select_from(Template)) == 0


async def test_publish_validates_its_body(
    client: Client, sign_in: SignIn, session_factory: Sessions
) -> None:
    author = await sign_in()
    url = f"/api/v1/strategies/{await strategy_of(session_factory, author)}/publish"
    for body, field in (
        ({"name": "x", "price_credits": -1}, "price_credits"),
        ({"price_credits": 1}, "name"),
        ({"name": "", "price_credits": 1}, "name"),
        ({"name": "nul\u0000", "price_credits": 1}, "name"),
        ({"name": "x", "price_credits": 1, "secret": True}, "secret"),
    ):
        response = await client.post(url, json=body, headers=author.headers)
        assert response.status == 422, body
        assert (await response.json(content_type=None))["errors"][0]["loc"] == ["body", field]
    bad_id = await client.post(
        "/api/v1/strategies/42/publish",
        json={"name": "x", "price_credits": 1},
        headers=author.headers,
    )
    assert bad_id.status == 422


# --- browse and read ---------------------------------------------------------------------


async def test_the_list_shows_active_templates_newest_first_or_most_cloned(
    client: Client, sign_in: SignIn, session_factory: Sessions
) -> None:
    author = await sign_in()
    viewer = await sign_in()
    ids = []
    for name in ("Alpha grid", "Beta breakout", "Gamma mean"):
        ids.append(
            (await publish(client, author, await strategy_of(session_factory, author), name=name))[
                "id"
            ]
        )
    await client.delete(f"/api/v1/templates/{ids[2]}", headers=author.headers)
    async with session_factory() as session, session.begin():
        await session.execute(
            update(Template).where(Template.id == uuid.UUID(ids[0])).values(clone_count=7)
        )
    newest = await client.get("/api/v1/templates", headers=viewer.headers)
    popular = await client.get(
        "/api/v1/templates", params={"sort": "clones"}, headers=viewer.headers
    )
    assert [item["name"] for item in (await newest.json())["items"]] == [
        "Beta breakout",
        "Alpha grid",
    ]
    assert [item["name"] for item in (await popular.json())["items"]] == [
        "Alpha grid",
        "Beta breakout",
    ]


async def test_search_matches_name_or_description_and_escapes_wildcards(
    client: Client, sign_in: SignIn, session_factory: Sessions
) -> None:
    author = await sign_in()
    await publish(client, author, await strategy_of(session_factory, author), name="Grid bot")
    await publish(
        client,
        author,
        await strategy_of(session_factory, author),
        name="Other",
        description="a GRID inside",
    )
    await publish(client, author, await strategy_of(session_factory, author), name="100% safe")
    grid = await client.get("/api/v1/templates", params={"search": "grid"}, headers=author.headers)
    percent = await client.get("/api/v1/templates", params={"search": "%"}, headers=author.headers)
    assert (await grid.json())["total"] == 2
    assert [item["name"] for item in (await percent.json())["items"]] == ["100% safe"]


async def test_the_list_validates_its_query(client: Client, sign_in: SignIn) -> None:
    viewer = await sign_in()
    for params, field in (
        ({"sort": "price"}, "sort"),
        ({"search": ""}, "search"),
        ({"page": 0}, "page"),
    ):
        response = await client.get("/api/v1/templates", params=params, headers=viewer.headers)
        assert response.status == 422
        assert (await response.json(content_type=None))["errors"][0]["loc"] == ["query", field]
    assert (await client.get("/api/v1/templates")).status == 401


async def test_an_unpublished_template_is_visible_to_its_author_only(
    client: Client, sign_in: SignIn, session_factory: Sessions
) -> None:
    author, template = await published(client, sign_in, session_factory)
    viewer = await sign_in()
    url = f"/api/v1/templates/{template['id']}"
    assert (await client.get(url, headers=viewer.headers)).status == 200
    await client.delete(url, headers=author.headers)
    hidden = await client.get(url, headers=viewer.headers)
    own = await client.get(url, headers=author.headers)
    assert hidden.status == 404
    assert (await hidden.json(content_type=None))["code"] == "TEMPLATE_NOT_FOUND"
    assert own.status == 200 and (await own.json())["is_active"] is False
    assert (
        await client.get(f"/api/v1/templates/{uuid.uuid4()}", headers=viewer.headers)
    ).status == 404
    assert (await client.get("/api/v1/templates/nope", headers=viewer.headers)).status == 422


# --- change and unpublish ----------------------------------------------------------------


async def test_the_author_changes_price_and_clears_the_description(
    client: Client, sign_in: SignIn, session_factory: Sessions
) -> None:
    author, template = await published(client, sign_in, session_factory)
    response = await client.patch(
        f"/api/v1/templates/{template['id']}",
        json={"price_credits": 99, "description": None},
        headers=author.headers,
    )
    body = await response.json()
    assert response.status == 200
    assert (
        body["price_credits"] == 99 and body["description"] is None and body["name"] == "Momentum"
    )
    row = await template_row(session_factory, template["id"])
    assert (row.price_credits, row.description) == (99, None)


async def test_only_the_author_changes_or_unpublishes(
    client: Client, sign_in: SignIn, session_factory: Sessions
) -> None:
    _, template = await published(client, sign_in, session_factory)
    other = await sign_in()
    url = f"/api/v1/templates/{template['id']}"
    patched = await client.patch(url, json={"price_credits": 0}, headers=other.headers)
    deleted = await client.delete(url, headers=other.headers)
    assert patched.status == deleted.status == 404
    row = await template_row(session_factory, template["id"])
    assert (row.price_credits, row.is_active) == (10, True)


async def test_patch_refuses_nulls_unknown_fields_and_unpublished_templates(
    client: Client, sign_in: SignIn, session_factory: Sessions
) -> None:
    author, template = await published(client, sign_in, session_factory)
    url = f"/api/v1/templates/{template['id']}"
    for body, field in (
        ({"name": None}, "name"),
        ({"price_credits": None}, "price_credits"),
        ({"clone_count": 1000}, "clone_count"),
    ):
        response = await client.patch(url, json=body, headers=author.headers)
        assert response.status == 422
        assert (await response.json(content_type=None))["errors"][0]["loc"] == ["body", field]
    await client.delete(url, headers=author.headers)
    inactive = await client.patch(url, json={"price_credits": 1}, headers=author.headers)
    assert inactive.status == 409
    assert (await inactive.json(content_type=None))["code"] == "TEMPLATE_INACTIVE"


async def test_unpublishing_keeps_the_row_and_is_repeatable(
    client: Client, sign_in: SignIn, session_factory: Sessions
) -> None:
    author, template = await published(client, sign_in, session_factory)
    url = f"/api/v1/templates/{template['id']}"
    first = await client.delete(url, headers=author.headers)
    second = await client.delete(url, headers=author.headers)
    assert first.status == second.status == 204
    assert (await template_row(session_factory, template["id"])).is_active is False
    assert (await client.delete(url)).status == 401


# --- clone -------------------------------------------------------------------------------


async def test_a_clone_pays_the_price_copies_the_definition_and_counts(
    client: Client, sign_in: SignIn, session_factory: Sessions
) -> None:
    author, template = await published(client, sign_in, session_factory, price=30)
    cloner = await sign_in(credits=100)
    response = await clone(client, cloner, template["id"])
    body = await response.json()
    assert response.status == 201
    assert body["price_credits"] == 30 and body["balance_after"] == 70
    assert await balance(session_factory, cloner.user_id) == 70
    assert await balance(session_factory, author.user_id) == 0
    assert await postings(session_factory, cloner.user_id, TransactionType.TEMPLATE_CLONE) == [
        (-30, uuid.UUID(body["id"]))
    ]
    [recorded] = await clone_rows(session_factory)
    assert (recorded.id, recorded.author_id, recorded.cloner_id) == (
        uuid.UUID(body["id"]),
        author.user_id,
        cloner.user_id,
    )
    assert recorded.price_credits == 30 and recorded.cloned_strategy_id == uuid.UUID(
        body["strategy_id"]
    )
    assert (await template_row(session_factory, template["id"])).clone_count == 1
    async with session_factory() as session:
        copy = await session.get_one(Strategy, uuid.UUID(body["strategy_id"]))
    assert copy.user_id == cloner.user_id and copy.definition == DEFINITION
    assert copy.status == "DRAFT" and copy.is_public is False and copy.name == "Momentum"
    assert await ledger_holds(session_factory)


async def test_clone_revenue_reaches_the_monthly_royalty_run(
    client: Client, sign_in: SignIn, session_factory: Sessions
) -> None:
    author, template = await published(client, sign_in, session_factory, price=40)
    for _ in range(3):
        await clone(client, await sign_in(credits=40), template["id"])
    today = dt.datetime.now(dt.UTC)
    async with session_factory() as session:
        lines = await preview_royalties(
            session, year=today.year, month=today.month, policy=policy()
        )
    assert [(line.author_id, line.total_clones, line.total_revenue_credits) for line in lines] == [
        (author.user_id, 3, 120)
    ]


async def test_a_free_template_clones_without_a_posting(
    client: Client, sign_in: SignIn, session_factory: Sessions
) -> None:
    _, template = await published(client, sign_in, session_factory, price=0)
    cloner = await sign_in()
    response = await clone(client, cloner, template["id"])
    assert response.status == 201 and (await response.json())["balance_after"] == 0
    assert await postings(session_factory, cloner.user_id, TransactionType.TEMPLATE_CLONE) == []
    assert len(await clone_rows(session_factory)) == 1


async def test_not_enough_credits_is_402_and_nothing_is_done(
    client: Client, sign_in: SignIn, session_factory: Sessions
) -> None:
    _, template = await published(client, sign_in, session_factory, price=30)
    cloner = await sign_in(credits=29)
    response = await clone(client, cloner, template["id"])
    assert response.status == 402
    assert (await response.json(content_type=None))["code"] == "INSUFFICIENT_CREDITS"
    assert await balance(session_factory, cloner.user_id) == 29
    assert await clone_rows(session_factory) == []
    assert (await template_row(session_factory, template["id"])).clone_count == 0
    async with session_factory() as session:
        owned = await session.scalar(
            select(func.count()).select_from(Strategy).where(Strategy.user_id == cloner.user_id)
        )
    assert owned == 0


async def test_my_own_template_is_409_and_an_unpublished_one_404(
    client: Client, sign_in: SignIn, session_factory: Sessions
) -> None:
    author, template = await published(client, sign_in, session_factory)
    cloner = await sign_in(credits=100)
    own = await clone(client, author, template["id"])
    await client.delete(f"/api/v1/templates/{template['id']}", headers=author.headers)
    gone = await clone(client, cloner, template["id"])
    anonymous = await client.post(f"/api/v1/templates/{template['id']}/clone")
    assert own.status == 409
    assert (await own.json(content_type=None))["code"] == "OWN_TEMPLATE"
    assert gone.status == 404 and anonymous.status == 401
    assert await balance(session_factory, cloner.user_id) == 100


async def test_a_retried_clone_with_its_key_pays_once(
    client: Client, sign_in: SignIn, session_factory: Sessions
) -> None:
    _, template = await published(client, sign_in, session_factory, price=30)
    cloner = await sign_in(credits=100)
    first = await clone(client, cloner, template["id"], key="clone-1")
    retry = await clone(client, cloner, template["id"], key="clone-1")
    assert first.status == retry.status == 201
    assert await retry.json() == await first.json()
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert await balance(session_factory, cloner.user_id) == 70
    assert len(await clone_rows(session_factory)) == 1


async def test_two_identical_clones_at_once_with_one_key_pay_once(
    client: Client, sign_in: SignIn, session_factory: Sessions
) -> None:
    _, template = await published(client, sign_in, session_factory, price=30)
    cloner = await sign_in(credits=100)
    responses = await asyncio.gather(
        *(clone(client, cloner, template["id"], key="same") for _ in range(2))
    )
    bodies = [await response.json() for response in responses]
    assert [response.status for response in responses] == [201, 201]
    assert bodies[0] == bodies[1]
    assert await balance(session_factory, cloner.user_id) == 70
    assert (await template_row(session_factory, template["id"])).clone_count == 1


async def test_ten_clones_racing_for_five_prices_buy_exactly_five(
    client: Client, sign_in: SignIn, session_factory: Sessions
) -> None:
    author, template = await published(client, sign_in, session_factory, price=20)
    cloner = await sign_in(credits=100)
    before = await posting_count(session_factory)
    responses = await asyncio.gather(
        *(clone(client, cloner, template["id"], key=f"race-{n}") for n in range(10))
    )
    statuses = sorted(response.status for response in responses)
    assert statuses == [201] * 5 + [402] * 5
    assert await balance(session_factory, cloner.user_id) == 0
    assert await posting_count(session_factory) == before + 5
    assert len(await clone_rows(session_factory)) == 5
    assert (await template_row(session_factory, template["id"])).clone_count == 5
    async with session_factory() as session:
        copies = await session.scalar(
            select(func.count()).select_from(Strategy).where(Strategy.user_id == cloner.user_id)
        )
    assert copies == 5
    assert await ledger_holds(session_factory)
    assert await balance(session_factory, author.user_id) == 0
