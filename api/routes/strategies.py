"""/api/v1 routes of the strategies area (api.md "Resources": strategies, "Strategy definitions").

The status machine and who may see what are in strategies/service.py."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable
from typing import TypeVar

from api.pagination import Page, paginate
from api.problems import FieldError, Problem
from api.registry import Call, Routes
from api.schemas.strategies import (
    FollowerCountOut,
    RegistrationOut,
    StrategyIn,
    StrategyOut,
    StrategyPatch,
    StrategyQuery,
    StrategySummaryOut,
)
from strategies import service
from strategies.errors import InvalidDefinition

routes = Routes("strategies")

Result = TypeVar("Result")


async def _checked(work: Awaitable[Result], *, loc: list[str | int]) -> Result:
    """`work`, with a definition's violations as one 422 listing each of them at `loc`."""
    try:
        return await work
    except InvalidDefinition as error:
        raise Problem(
            422,
            error.single_code,
            str(error),
            errors=[
                FieldError(
                    loc=[*loc, *violation.loc], code=violation.code, message=violation.message
                )
                for violation in error.violations
            ],
        ) from None


@routes.get("/strategies")
async def list_strategies(call: Call, query: StrategyQuery) -> Page[StrategySummaryOut]:
    """My strategies, or with `public=true` other users' public ones; newest first.

    `status` keeps one status (mine leave ARCHIVED out unless it is asked for), `search` keeps
    names containing it (any case)."""
    filters = service.StrategyFilter(status=query.status, search=query.search)
    statement = (
        service.public_strategies(call.user.id, filters)
        if query.public
        else service.owned_strategies(call.user.id, filters)
    )
    return await paginate(call.session, statement, query, StrategySummaryOut.from_row)


@routes.post("/strategies", status=201)
async def create_strategy(call: Call, body: StrategyIn) -> StrategyOut:
    """Create a DRAFT strategy.

    The definition must pass the save rules: its shape (INVALID_DEFINITION), unique node ids
    (DUPLICATE_NODE_ID), edges between its nodes (INVALID_EDGE_REFERENCE), at most 50 nodes,
    100 edges and 256 KiB (STRATEGY_TOO_COMPLEX) and known node types (UNKNOWN_NODE_TYPE). The
    422 lists every violation in `errors`; its `code` is theirs when they share one."""
    strategy = await _checked(
        service.create_strategy(
            call.session,
            owner_id=call.user.id,
            name=body.name,
            description=body.description,
            definition=body.definition,
            is_public=body.is_public,
        ),
        loc=["body", "definition"],
    )
    return StrategyOut.from_row(strategy, viewer_id=call.user.id)


@routes.get("/strategies/{strategy_id}")
async def get_strategy(call: Call, strategy_id: uuid.UUID) -> StrategyOut:
    """One of my strategies, or another user's public one (without its definition)."""
    strategy = await service.visible_strategy(
        call.session, viewer_id=call.user.id, strategy_id=strategy_id
    )
    return StrategyOut.from_row(strategy, viewer_id=call.user.id)


@routes.patch("/strategies/{strategy_id}")
async def update_strategy(call: Call, strategy_id: uuid.UUID, body: StrategyPatch) -> StrategyOut:
    """Change name, description, definition or visibility of my strategy.

    A new definition passes the save rules (422 as on create). A DEPLOYED strategy keeps its
    definition until it is paused (409 STRATEGY_DEPLOYED); an ARCHIVED one changes no more
    (409 STRATEGY_ARCHIVED)."""
    changes = service.StrategyChanges(
        fields=frozenset(body.model_fields_set),
        name=body.name,
        description=body.description,
        definition=body.definition,
        is_public=body.is_public,
    )
    strategy = await _checked(
        service.update_strategy(
            call.session, owner_id=call.user.id, strategy_id=strategy_id, changes=changes
        ),
        loc=["body", "definition"],
    )
    return StrategyOut.from_row(strategy, viewer_id=call.user.id)


@routes.delete("/strategies/{strategy_id}")
async def archive_strategy(call: Call, strategy_id: uuid.UUID) -> None:
    """Archive my strategy (it stops, its history stays); archiving twice changes nothing."""
    await service.archive_strategy(call.session, owner_id=call.user.id, strategy_id=strategy_id)


@routes.post("/strategies/{strategy_id}/deploy")
async def deploy_strategy(call: Call, strategy_id: uuid.UUID) -> StrategyOut:
    """DRAFT or PAUSED → DEPLOYED, once the definition passes every rule.

    Beyond the save rules: exactly one trigger (NO_TRIGGER, MULTIPLE_TRIGGERS), at least one
    action (NO_ACTION_NODE), no cycle (CYCLE_DETECTED), at most 5 llm nodes
    (TOO_MANY_LLM_NODES); a 422 lists them all. Any other status is 409
    INVALID_STATUS_TRANSITION."""
    strategy = await _checked(
        service.deploy_strategy(call.session, owner_id=call.user.id, strategy_id=strategy_id),
        loc=["definition"],
    )
    return StrategyOut.from_row(strategy, viewer_id=call.user.id)


@routes.post("/strategies/{strategy_id}/pause")
async def pause_strategy(call: Call, strategy_id: uuid.UUID) -> StrategyOut:
    """DEPLOYED → PAUSED; any other status is 409 INVALID_STATUS_TRANSITION."""
    strategy = await service.pause_strategy(
        call.session, owner_id=call.user.id, strategy_id=strategy_id
    )
    return StrategyOut.from_row(strategy, viewer_id=call.user.id)


@routes.post("/strategies/{strategy_id}/registration", status=201)
async def request_registration(call: Call, strategy_id: uuid.UUID) -> RegistrationOut:
    """The PENDING on-chain registration of my strategy, for me to submit.

    Call StrategyRegistry.createStrategy(metadata_uri) from one of my verified wallets; the
    indexer then marks it REGISTERED. Needs a verified wallet (409 VERIFIED_WALLET_REQUIRED);
    asking again returns the same registration; a REGISTERED strategy is 409
    ALREADY_REGISTERED and an ARCHIVED one 409 STRATEGY_ARCHIVED."""
    registration = await service.request_registration(
        call.session, owner_id=call.user.id, strategy_id=strategy_id
    )
    return RegistrationOut.from_row(registration)


@routes.get("/strategies/{strategy_id}/registration")
async def get_registration(call: Call, strategy_id: uuid.UUID) -> RegistrationOut:
    """The on-chain registration of my strategy (404 REGISTRATION_NOT_FOUND before one)."""
    registration = await service.registration_of(
        call.session, owner_id=call.user.id, strategy_id=strategy_id
    )
    return RegistrationOut.from_row(registration)


@routes.get("/strategies/{strategy_id}/followers")
async def count_followers(call: Call, strategy_id: uuid.UUID) -> FollowerCountOut:
    """How many users actively follow this strategy (mine, or another user's public one)."""
    followers = await service.follower_count(
        call.session, viewer_id=call.user.id, strategy_id=strategy_id
    )
    return FollowerCountOut(strategy_id=strategy_id, followers=followers)
