"""Strategies over HTTP: definitions checked on save and deploy, the status machine, who sees
what."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db.models import Follow, Strategy
from strategies.definitions import MAX_DEFINITION_BYTES
from tests.factories import add_strategy, add_user
from tests.integration.api.conftest import SignedIn, SignIn

Client = TestClient[object, object]
Sessions = async_sessionmaker[AsyncSession]


def runnable() -> dict[str, Any]:
    return {
        "nodes": [
            {"id": "tick", "type": "trigger", "config": {"every": "5m"}},
            {"id": "rsi", "type": "indicator", "config": {"period": 14}},
            {"id": "low", "type": "condition", "config": {"below": 30}},
            {"id": "buy", "type": "action", "config": {"side": "BUY"}},
        ],
        "edges": [
            {"from_node": "tick", "to_node": "rsi"},
            {"from_node": "rsi", "to_node": "low"},
            {"from_node": "low", "to_node": "buy", "condition": "true"},
        ],
    }


async def create(
    client: Client, me: SignedIn, definition: dict[str, Any] | None = None, **fields: Any
) -> dict[str, Any]:
    body = {"name": "rsi dip", "definition": definition or runnable(), **fields}
    response = await client.post("/api/v1/strategies", json=body, headers=me.headers)
    assert response.status == 201, await response.text()
    created: dict[str, Any] = await response.json()
    return created


async def stored(session_factory: Sessions, strategy_id: str) -> Strategy:
    async with session_factory() as session:
        return await session.get_one(Strategy, uuid.UUID(strategy_id))


async def problem(response: Any) -> dict[str, Any]:
    body: dict[str, Any] = await response.json(content_type=None)
    return body


# --- create ------------------------------------------------------------------------------


async def test_a_new_strategy_is_a_stored_draft(
    client: Client, sign_in: SignIn, session_factory: Sessions
) -> None:
    me = await sign_in()

    body = await create(client, me, description="buys the dip", is_public=True)

    row = await stored(session_factory, body["id"])
    assert row.user_id == me.user_id and row.status == "DRAFT"
    assert row.name == "rsi dip" and row.description == "buys the dip" and row.is_public
    assert row.definition == runnable()
    assert body["status"] == "DRAFT" and body["definition"] == runnable()
    assert body["owner_id"] == str(me.user_id)


@pytest.mark.parametrize(
    ("breakage", "code"),
    [
        (lambda d: d["nodes"].append({"id": "rsi", "type": "indicator"}), "DUPLICATE_NODE_ID"),
        (
            lambda d: d["edges"].append({"from_node": "x", "to_node": "buy"}),
            "INVALID_EDGE_REFERENCE",
        ),
        (lambda d: d["nodes"].append({"id": "fx", "type": "teleport"}), "UNKNOWN_NODE_TYPE"),
        (
            lambda d: d["nodes"].extend({"id": f"n{i}", "type": "indicator"} for i in range(50)),
            "STRATEGY_TOO_COMPLEX",
        ),
        (lambda d: d.pop("edges"), "INVALID_DEFINITION"),
    ],
)
async def test_each_save_rule_refuses_the_strategy_with_its_code(
    client: Client, sign_in: SignIn, session_factory: Sessions, breakage: Any, code: str
) -> None:
    me = await sign_in()
    definition = runnable()
    breakage(definition)

    response = await client.post(
        "/api/v1/strategies", json={"name": "x", "definition": definition}, headers=me.headers
    )

    body = await problem(response)
    assert response.status == 422 and body["code"] == code
    assert [error["code"] for error in body["errors"]] == [code]
    assert body["errors"][0]["loc"][:2] == ["body", "definition"]
    async with session_factory() as session:
        assert await session.scalar(select(Strategy)) is None


async def test_a_definition_breaking_several_rules_lists_every_violation(
    client: Client, sign_in: SignIn
) -> None:
    me = await sign_in()
    definition = runnable()
    definition["nodes"] += [{"id": "low", "type": "condition"}, {"id": "ai", "type": "oracle"}]
    definition["edges"].append({"from_node": "buy", "to_node": "nowhere"})

    response = await client.post(
        "/api/v1/strategies", json={"name": "x", "definition": definition}, headers=me.headers
    )

    body = await problem(response)
    assert response.status == 422 and body["code"] == "INVALID_DEFINITION"
    assert {(e["code"], tuple(e["loc"])) for e in body["errors"]} == {
        ("DUPLICATE_NODE_ID", ("body", "definition", "nodes", 4, "id")),
        ("UNKNOWN_NODE_TYPE", ("body", "definition", "nodes", 5, "type")),
        ("INVALID_EDGE_REFERENCE", ("body", "definition", "edges", 3, "to_node")),
    }


async def test_a_definition_over_256_kib_is_too_complex(client: Client, sign_in: SignIn) -> None:
    me = await sign_in()
    definition = runnable()
    definition["nodes"][0]["config"]["notes"] = "x" * MAX_DEFINITION_BYTES

    response = await client.post(
        "/api/v1/strategies", json={"name": "x", "definition": definition}, headers=me.headers
    )

    assert response.status == 422
    assert (await problem(response))["code"] == "STRATEGY_TOO_COMPLEX"


async def test_a_body_without_a_name_or_with_unknown_fields_is_invalid(
    client: Client, sign_in: SignIn
) -> None:
    me = await sign_in()
    for body in ({"definition": runnable()}, {"name": "x", "definition": runnable(), "x": 1}):
        response = await client.post("/api/v1/strategies", json=body, headers=me.headers)
        assert response.status == 422
        assert (await problem(response))["code"] == "VALIDATION_ERROR"


async def test_text_the_database_cannot_hold_is_refused_not_a_server_error(
    client: Client, sign_in: SignIn, session_factory: Sessions
) -> None:
    me = await sign_in()
    definition = runnable()
    definition["nodes"][0]["config"]["note"] = "a\u0000b"
    bodies = [
        {"name": "x", "definition": definition},
        {"name": "a\u0000b", "definition": runnable()},
        {"name": "x", "description": "\ud800", "definition": runnable()},
    ]
    raw_bodies = [json.dumps(body) for body in bodies]
    raw_bodies.append(
        '{"name": "x", "definition": {"edges": [],'
        ' "nodes": [{"id": "t", "type": "trigger", "config": {"w": NaN}}]}}'
    )
    codes = []
    for raw in raw_bodies:
        response = await client.post(
            "/api/v1/strategies",
            data=raw,
            headers={**me.headers, "Content-Type": "application/json"},
        )
        codes.append((response.status, (await problem(response))["code"]))
    searched = await client.get("/api/v1/strategies?search=%00", headers=me.headers)

    # NaN is not JSON at all; NUL and lone surrogates are refused for every route alike.
    assert codes == [
        (422, "VALIDATION_ERROR"),
        (422, "VALIDATION_ERROR"),
        (422, "VALIDATION_ERROR"),
        (400, "MALFORMED_JSON"),
    ]
    assert searched.status == 422
    async with session_factory() as session:
        assert await session.scalar(select(Strategy)) is None


# --- read --------------------------------------------------------------------------------


async def test_my_list_is_newest_first_without_archived_ones(
    client: Client, sign_in: SignIn, session_factory: Sessions
) -> None:
    me, other = await sign_in(), await sign_in()
    first = await create(client, me, name="first")
    second = await create(client, me, name="second")
    archived = await create(client, me, name="gone")
    await create(client, other, name="not mine", is_public=True)
    await client.delete(f"/api/v1/strategies/{archived['id']}", headers=me.headers)

    response = await client.get("/api/v1/strategies", headers=me.headers)
    body = await response.json()

    assert response.status == 200 and body["total"] == 2
    assert [item["id"] for item in body["items"]] == [second["id"], first["id"]]
    assert "definition" not in body["items"][0]
    archived_only = await client.get("/api/v1/strategies?status=ARCHIVED", headers=me.headers)
    assert [item["id"] for item in (await archived_only.json())["items"]] == [archived["id"]]


async def test_my_list_pages_and_searches_by_name(client: Client, sign_in: SignIn) -> None:
    me = await sign_in()
    for name in ("Alpha dip", "beta trend", "alpha breakout"):
        await create(client, me, name=name)

    searched = await client.get("/api/v1/strategies?search=ALPHA&size=1", headers=me.headers)
    body = await searched.json()

    assert body["total"] == 2 and body["pages"] == 2 and body["size"] == 1
    assert [item["name"] for item in body["items"]] == ["alpha breakout"]


async def test_public_browsing_shows_other_users_public_live_strategies(
    client: Client, sign_in: SignIn
) -> None:
    me, author = await sign_in(), await sign_in()
    await create(client, me, name="my public", is_public=True)
    shown = await create(client, author, name="shared", is_public=True)
    await create(client, author, name="private")
    withdrawn = await create(client, author, name="withdrawn", is_public=True)
    await client.delete(f"/api/v1/strategies/{withdrawn['id']}", headers=author.headers)

    response = await client.get("/api/v1/strategies?public=true", headers=me.headers)
    body = await response.json()

    assert [item["id"] for item in body["items"]] == [shown["id"]]
    assert body["items"][0]["owner_id"] == str(author.user_id)


async def test_another_users_public_strategy_reads_without_its_definition(
    client: Client, sign_in: SignIn
) -> None:
    me, author = await sign_in(), await sign_in()
    shared = await create(client, author, is_public=True)
    private = await create(client, author)

    seen = await client.get(f"/api/v1/strategies/{shared['id']}", headers=me.headers)
    hidden = await client.get(f"/api/v1/strategies/{private['id']}", headers=me.headers)
    own = await client.get(f"/api/v1/strategies/{private['id']}", headers=author.headers)

    assert seen.status == 200 and (await seen.json())["definition"] is None
    assert hidden.status == 404 and (await problem(hidden))["code"] == "STRATEGY_NOT_FOUND"
    assert (await own.json())["definition"] == runnable()


async def test_a_bad_strategy_id_is_a_validation_error(client: Client, sign_in: SignIn) -> None:
    me = await sign_in()
    response = await client.get("/api/v1/strategies/not-a-uuid", headers=me.headers)
    assert response.status == 422
    assert (await problem(response))["errors"][0]["loc"][0] == "path"


# --- change ------------------------------------------------------------------------------


async def test_patch_changes_only_the_fields_sent(
    client: Client, sign_in: SignIn, session_factory: Sessions
) -> None:
    me = await sign_in()
    created = await create(client, me, description="old")
    new_definition = runnable()
    new_definition["nodes"][1]["config"]["period"] = 21

    response = await client.patch(
        f"/api/v1/strategies/{created['id']}",
        json={"name": "renamed", "is_public": True, "definition": new_definition},
        headers=me.headers,
    )

    assert response.status == 200
    row = await stored(session_factory, created["id"])
    assert (row.name, row.description, row.is_public) == ("renamed", "old", True)
    assert row.definition == new_definition
    assert row.updated_at > dt.datetime.fromisoformat(created["updated_at"])

    cleared = await client.patch(
        f"/api/v1/strategies/{created['id']}", json={"description": None}, headers=me.headers
    )
    assert (
        cleared.status == 200 and (await stored(session_factory, created["id"])).description is None
    )


async def test_patch_refuses_a_broken_definition_and_a_null_name(
    client: Client, sign_in: SignIn, session_factory: Sessions
) -> None:
    me = await sign_in()
    created = await create(client, me)
    broken = runnable()
    broken["edges"].append({"from_node": "ghost", "to_node": "buy"})

    refused = await client.patch(
        f"/api/v1/strategies/{created['id']}", json={"definition": broken}, headers=me.headers
    )
    nulled = await client.patch(
        f"/api/v1/strategies/{created['id']}", json={"name": None}, headers=me.headers
    )

    assert refused.status == 422 and (await problem(refused))["code"] == "INVALID_EDGE_REFERENCE"
    assert nulled.status == 422 and (await problem(nulled))["code"] == "VALIDATION_ERROR"
    assert (await stored(session_factory, created["id"])).definition == runnable()


async def test_a_deployed_strategy_keeps_its_definition_until_paused(
    client: Client, sign_in: SignIn
) -> None:
    me = await sign_in()
    created = await create(client, me)
    path = f"/api/v1/strategies/{created['id']}"
    await client.post(f"{path}/deploy", headers=me.headers)

    locked = await client.patch(path, json={"definition": runnable()}, headers=me.headers)
    renamed = await client.patch(path, json={"name": "still live"}, headers=me.headers)
    await client.post(f"{path}/pause", headers=me.headers)
    edited = await client.patch(path, json={"definition": runnable()}, headers=me.headers)

    assert locked.status == 409 and (await problem(locked))["code"] == "STRATEGY_DEPLOYED"
    assert renamed.status == 200 and edited.status == 200


async def test_an_archived_strategy_changes_no_more(client: Client, sign_in: SignIn) -> None:
    me = await sign_in()
    created = await create(client, me)
    path = f"/api/v1/strategies/{created['id']}"
    await client.delete(path, headers=me.headers)

    patched = await client.patch(path, json={"name": "back"}, headers=me.headers)
    deployed = await client.post(f"{path}/deploy", headers=me.headers)

    assert patched.status == 409 and (await problem(patched))["code"] == "STRATEGY_ARCHIVED"
    assert deployed.status == 409
    assert (await problem(deployed))["code"] == "INVALID_STATUS_TRANSITION"


# --- status machine ----------------------------------------------------------------------


async def test_a_valid_draft_deploys_pauses_and_deploys_again(
    client: Client, sign_in: SignIn, session_factory: Sessions
) -> None:
    me = await sign_in()
    created = await create(client, me)
    path = f"/api/v1/strategies/{created['id']}"

    deployed = await client.post(f"{path}/deploy", headers=me.headers)
    assert deployed.status == 200 and (await deployed.json())["status"] == "DEPLOYED"
    assert (await stored(session_factory, created["id"])).status == "DEPLOYED"

    paused = await client.post(f"{path}/pause", headers=me.headers)
    assert (await paused.json())["status"] == "PAUSED"
    assert (await stored(session_factory, created["id"])).status == "PAUSED"

    again = await client.post(f"{path}/deploy", headers=me.headers)
    assert (await again.json())["status"] == "DEPLOYED"


@pytest.mark.parametrize(
    ("breakage", "code"),
    [
        (lambda d: d["nodes"][0].update(type="data_source"), "NO_TRIGGER"),
        (lambda d: d["nodes"].append({"id": "t2", "type": "trigger"}), "MULTIPLE_TRIGGERS"),
        (lambda d: d["nodes"][3].update(type="condition"), "NO_ACTION_NODE"),
        (lambda d: d["edges"].append({"from_node": "low", "to_node": "rsi"}), "CYCLE_DETECTED"),
        (
            lambda d: d["nodes"].extend({"id": f"ai{i}", "type": "llm"} for i in range(6)),
            "TOO_MANY_LLM_NODES",
        ),
    ],
)
async def test_each_deploy_rule_keeps_a_draft_a_draft(
    client: Client,
    sign_in: SignIn,
    session_factory: Sessions,
    breakage: Any,
    code: str,
) -> None:
    me = await sign_in()
    definition = runnable()
    breakage(definition)
    created = await create(client, me, definition)

    response = await client.post(f"/api/v1/strategies/{created['id']}/deploy", headers=me.headers)

    body = await problem(response)
    assert response.status == 422 and body["code"] == code
    assert [error["code"] for error in body["errors"]] == [code]
    assert body["errors"][0]["loc"][0] == "definition"
    assert (await stored(session_factory, created["id"])).status == "DRAFT"


async def test_deploying_lists_every_broken_run_rule(client: Client, sign_in: SignIn) -> None:
    me = await sign_in()
    definition = {
        "nodes": [{"id": f"ai{i}", "type": "llm"} for i in range(6)],
        "edges": [{"from_node": "ai0", "to_node": "ai1"}, {"from_node": "ai1", "to_node": "ai0"}],
    }
    created = await create(client, me, definition)

    response = await client.post(f"/api/v1/strategies/{created['id']}/deploy", headers=me.headers)

    body = await problem(response)
    assert response.status == 422 and body["code"] == "INVALID_DEFINITION"
    assert sorted(error["code"] for error in body["errors"]) == [
        "CYCLE_DETECTED",
        "NO_ACTION_NODE",
        "NO_TRIGGER",
        "TOO_MANY_LLM_NODES",
    ]


@pytest.mark.parametrize(
    ("status", "action"),
    [("DEPLOYED", "deploy"), ("DRAFT", "pause"), ("PAUSED", "pause"), ("ARCHIVED", "pause")],
)
async def test_a_move_the_machine_does_not_allow_is_a_conflict(
    client: Client, sign_in: SignIn, session_factory: Sessions, status: str, action: str
) -> None:
    me = await sign_in()
    async with session_factory() as session, session.begin():
        strategy_id = await add_strategy(session, me.user_id, status=status)

    response = await client.post(f"/api/v1/strategies/{strategy_id}/{action}", headers=me.headers)

    assert response.status == 409
    assert (await problem(response))["code"] == "INVALID_STATUS_TRANSITION"
    assert (await stored(session_factory, str(strategy_id))).status == status


async def test_delete_archives_and_is_harmless_twice(
    client: Client, sign_in: SignIn, session_factory: Sessions
) -> None:
    me = await sign_in()
    created = await create(client, me)
    await client.post(f"/api/v1/strategies/{created['id']}/deploy", headers=me.headers)

    first = await client.delete(f"/api/v1/strategies/{created['id']}", headers=me.headers)
    second = await client.delete(f"/api/v1/strategies/{created['id']}", headers=me.headers)

    assert first.status == 204 and second.status == 204
    assert (await stored(session_factory, created["id"])).status == "ARCHIVED"


# --- followers ---------------------------------------------------------------------------


async def test_the_follower_count_counts_active_follows(
    client: Client, sign_in: SignIn, session_factory: Sessions
) -> None:
    me, author = await sign_in(), await sign_in()
    shared = await create(client, author, is_public=True)
    async with session_factory() as session, session.begin():
        for active in (True, True, False):
            follower = await add_user(session)
            await session.execute(
                insert(Follow).values(
                    follower_id=follower,
                    following_id=author.user_id,
                    strategy_id=uuid.UUID(shared["id"]),
                    is_active=active,
                )
            )

    mine = await client.get(f"/api/v1/strategies/{shared['id']}/followers", headers=author.headers)
    theirs = await client.get(f"/api/v1/strategies/{shared['id']}/followers", headers=me.headers)

    assert (await mine.json()) == {"strategy_id": shared["id"], "followers": 2}
    assert (await theirs.json())["followers"] == 2


async def test_followers_of_a_private_strategy_are_not_for_others(
    client: Client, sign_in: SignIn
) -> None:
    me, author = await sign_in(), await sign_in()
    private = await create(client, author)
    response = await client.get(f"/api/v1/strategies/{private['id']}/followers", headers=me.headers)
    assert response.status == 404


# --- authorization -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [
        ("PATCH", "", {"name": "mine now"}),
        ("DELETE", "", None),
        ("POST", "/deploy", None),
        ("POST", "/pause", None),
    ],
)
async def test_another_users_strategy_is_not_found_even_when_public(
    client: Client,
    sign_in: SignIn,
    session_factory: Sessions,
    method: str,
    suffix: str,
    body: Any,
) -> None:
    me, author = await sign_in(), await sign_in()
    shared = await create(client, author, is_public=True)

    response = await client.request(
        method, f"/api/v1/strategies/{shared['id']}{suffix}", json=body, headers=me.headers
    )

    assert response.status == 404
    assert (await problem(response))["code"] == "STRATEGY_NOT_FOUND"
    row = await stored(session_factory, shared["id"])
    assert (row.name, row.status) == ("rsi dip", "DRAFT")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/strategies"),
        ("POST", "/api/v1/strategies"),
        ("GET", f"/api/v1/strategies/{uuid.UUID(int=1)}"),
        ("PATCH", f"/api/v1/strategies/{uuid.UUID(int=1)}"),
        ("DELETE", f"/api/v1/strategies/{uuid.UUID(int=1)}"),
        ("POST", f"/api/v1/strategies/{uuid.UUID(int=1)}/deploy"),
        ("POST", f"/api/v1/strategies/{uuid.UUID(int=1)}/pause"),
        ("GET", f"/api/v1/strategies/{uuid.UUID(int=1)}/followers"),
    ],
)
async def test_strategy_routes_need_a_token(client: Client, method: str, path: str) -> None:
    response = await client.request(method, path, json={})
    assert response.status == 401
