"""Strategies of their owners: create, read, change, deploy, pause, archive, register on chain.

Status machine (schema.md's four states; every other move is INVALID_STATUS_TRANSITION, 409):

    DRAFT    --deploy-->  DEPLOYED     (after the full deploy validation of the definition)
    PAUSED   --deploy-->  DEPLOYED     (validated again: the definition may have changed)
    DEPLOYED --pause--->  PAUSED
    DRAFT | DEPLOYED | PAUSED --archive--> ARCHIVED   (DELETE; final; archiving twice is a no-op)

A DEPLOYED strategy keeps its definition (pause it first: STRATEGY_DEPLOYED, 409); an ARCHIVED one
changes no more (STRATEGY_ARCHIVED, 409). Archiving rather than deleting keeps executions,
settlements and templates, whose history points at the strategy, intact.

Who sees what: the owner sees and changes their strategies in every state. Anyone signed in may
read another user's public strategy that is not archived, without its definition (definitions
are what templates sell); everything else of others is "not found".

Functions take the caller's session and never commit.
"""

from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, bindparam, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from db.enums import RegistrationStatus, StrategyStatus
from db.models import Follow, Strategy, StrategyRegistration, Wallet
from db.statements import BoundSelect
from indexer import projections
from strategies.definitions import deploy_violations, save_violations
from strategies.errors import (
    AlreadyRegistered,
    DefinitionLocked,
    InvalidDefinition,
    InvalidStatusTransition,
    RegistrationNotFound,
    StrategyArchived,
    StrategyNotFound,
    VerifiedWalletRequired,
)

METADATA_URI_PREFIX = "gr8d://strategies/"

# (from, to) pairs the machine above allows.
ALLOWED_TRANSITIONS: frozenset[tuple[StrategyStatus, StrategyStatus]] = frozenset(
    {
        (StrategyStatus.DRAFT, StrategyStatus.DEPLOYED),
        (StrategyStatus.PAUSED, StrategyStatus.DEPLOYED),
        (StrategyStatus.DEPLOYED, StrategyStatus.PAUSED),
        (StrategyStatus.DRAFT, StrategyStatus.ARCHIVED),
        (StrategyStatus.DEPLOYED, StrategyStatus.ARCHIVED),
        (StrategyStatus.PAUSED, StrategyStatus.ARCHIVED),
    }
)


def metadata_uri(strategy_id: uuid.UUID) -> str:
    """What the client passes to StrategyRegistry.createStrategy and the indexer matches."""
    return f"{METADATA_URI_PREFIX}{strategy_id}"


def check_definition(definition: Any, *, deploying: bool) -> None:
    violations = deploy_violations(definition) if deploying else save_violations(definition)
    if violations:
        raise InvalidDefinition(violations, deploying=deploying)


def _move(strategy: Strategy, wanted: StrategyStatus) -> None:
    current = StrategyStatus(strategy.status)
    if (current, wanted) not in ALLOWED_TRANSITIONS:
        raise InvalidStatusTransition(current, wanted)
    strategy.status = wanted


# --- reading -----------------------------------------------------------------------------


async def owned_strategy(
    session: AsyncSession, *, owner_id: uuid.UUID, strategy_id: uuid.UUID, lock: bool = False
) -> Strategy:
    """The caller's strategy (row-locked when it is about to change); StrategyNotFound else."""
    statement = select(Strategy).where(Strategy.id == strategy_id, Strategy.user_id == owner_id)
    if lock:
        statement = statement.with_for_update()
    strategy = await session.scalar(statement)
    if strategy is None:
        raise StrategyNotFound()
    return strategy


def _visible_to(viewer_id: uuid.UUID) -> Any:
    return or_(
        Strategy.user_id == viewer_id,
        (Strategy.is_public.is_(True)) & (Strategy.status != StrategyStatus.ARCHIVED),
    )


async def visible_strategy(
    session: AsyncSession, *, viewer_id: uuid.UUID, strategy_id: uuid.UUID
) -> Strategy:
    """The viewer's own strategy, or another user's public one that is not archived."""
    strategy = await session.scalar(
        select(Strategy).where(Strategy.id == strategy_id, _visible_to(viewer_id))
    )
    if strategy is None:
        raise StrategyNotFound()
    return strategy


@dataclass(frozen=True, slots=True)
class StrategyFilter:
    status: StrategyStatus | None = None
    search: str | None = None  # a case-insensitive part of the name


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


# What a list shows of each strategy: all but its definition (a JSON document each row would
# decode for nothing).
SUMMARY_COLUMNS = (
    Strategy.id,
    Strategy.user_id,
    Strategy.name,
    Strategy.description,
    Strategy.status,
    Strategy.is_public,
    Strategy.created_at,
    Strategy.updated_at,
)


@functools.cache
def _strategy_list(*, public: bool, by_status: bool, by_name: bool) -> Select[*tuple[Any, ...]]:
    """The list statement of one shape, built once (db/statements.py); its values are the bind
    parameters `viewer_id`, `status` and `name_pattern`."""
    viewer = bindparam("viewer_id", type_=Strategy.user_id.type)
    if public:
        statement = select(*SUMMARY_COLUMNS).where(
            Strategy.user_id != viewer,
            Strategy.is_public.is_(True),
            Strategy.status != StrategyStatus.ARCHIVED,
        )
    else:
        statement = select(*SUMMARY_COLUMNS).where(Strategy.user_id == viewer)
        if not by_status:
            statement = statement.where(Strategy.status != StrategyStatus.ARCHIVED)
    if by_status:
        statement = statement.where(Strategy.status == bindparam("status"))
    if by_name:
        statement = statement.where(Strategy.name.ilike(bindparam("name_pattern"), escape="\\"))
    return statement.order_by(Strategy.created_at.desc(), Strategy.id.desc())


def _strategies(viewer_id: uuid.UUID, filters: StrategyFilter, *, public: bool) -> BoundSelect:
    params: dict[str, Any] = {"viewer_id": viewer_id}
    if filters.status is not None:
        params["status"] = filters.status.value
    if filters.search:
        params["name_pattern"] = f"%{_escape_like(filters.search)}%"
    statement = _strategy_list(
        public=public, by_status="status" in params, by_name="name_pattern" in params
    )
    return BoundSelect(statement, params)


def owned_strategies(owner_id: uuid.UUID, filters: StrategyFilter) -> BoundSelect:
    """Rows of SUMMARY_COLUMNS of the owner's strategies, newest first; archived ones only
    when asked for by status."""
    return _strategies(owner_id, filters, public=False)


def public_strategies(viewer_id: uuid.UUID, filters: StrategyFilter) -> BoundSelect:
    """Rows of SUMMARY_COLUMNS of other users' public strategies that are not archived, newest
    first."""
    return _strategies(viewer_id, filters, public=True)


async def follower_count(
    session: AsyncSession, *, viewer_id: uuid.UUID, strategy_id: uuid.UUID
) -> int:
    """Active followers of a strategy the viewer may see."""
    await visible_strategy(session, viewer_id=viewer_id, strategy_id=strategy_id)
    count = await session.scalar(
        select(func.count())
        .select_from(Follow)
        .where(Follow.strategy_id == strategy_id, Follow.is_active.is_(True))
    )
    return count or 0


# --- changing ----------------------------------------------------------------------------


async def create_strategy(
    session: AsyncSession,
    *,
    owner_id: uuid.UUID,
    name: str,
    description: str | None,
    definition: dict[str, Any],
    is_public: bool,
) -> Strategy:
    """A new DRAFT strategy whose definition passes the save rules."""
    check_definition(definition, deploying=False)
    strategy = Strategy(
        user_id=owner_id,
        name=name,
        description=description,
        definition=definition,
        is_public=is_public,
        status=StrategyStatus.DRAFT,
    )
    session.add(strategy)
    await session.flush()
    await session.refresh(strategy)
    return strategy


@dataclass(frozen=True, slots=True)
class StrategyChanges:
    """The fields a PATCH sets; `fields` names the ones present (None may be a value)."""

    fields: frozenset[str]
    name: str | None = None
    description: str | None = None
    definition: dict[str, Any] | None = None
    is_public: bool | None = None


async def update_strategy(
    session: AsyncSession,
    *,
    owner_id: uuid.UUID,
    strategy_id: uuid.UUID,
    changes: StrategyChanges,
) -> Strategy:
    strategy = await owned_strategy(session, owner_id=owner_id, strategy_id=strategy_id, lock=True)
    if strategy.status == StrategyStatus.ARCHIVED:
        raise StrategyArchived()
    if "definition" in changes.fields:
        if strategy.status == StrategyStatus.DEPLOYED:
            raise DefinitionLocked()
        check_definition(changes.definition, deploying=False)
        strategy.definition = changes.definition or {}
    if "name" in changes.fields and changes.name is not None:
        strategy.name = changes.name
    if "description" in changes.fields:
        strategy.description = changes.description
    if "is_public" in changes.fields and changes.is_public is not None:
        strategy.is_public = changes.is_public
    return await _saved(session, strategy)


async def deploy_strategy(
    session: AsyncSession, *, owner_id: uuid.UUID, strategy_id: uuid.UUID
) -> Strategy:
    """DRAFT or PAUSED → DEPLOYED once the stored definition passes every deploy rule."""
    strategy = await owned_strategy(session, owner_id=owner_id, strategy_id=strategy_id, lock=True)
    if (StrategyStatus(strategy.status), StrategyStatus.DEPLOYED) not in ALLOWED_TRANSITIONS:
        raise InvalidStatusTransition(strategy.status, StrategyStatus.DEPLOYED)
    check_definition(strategy.definition, deploying=True)
    _move(strategy, StrategyStatus.DEPLOYED)
    return await _saved(session, strategy)


async def pause_strategy(
    session: AsyncSession, *, owner_id: uuid.UUID, strategy_id: uuid.UUID
) -> Strategy:
    strategy = await owned_strategy(session, owner_id=owner_id, strategy_id=strategy_id, lock=True)
    _move(strategy, StrategyStatus.PAUSED)
    return await _saved(session, strategy)


async def archive_strategy(
    session: AsyncSession, *, owner_id: uuid.UUID, strategy_id: uuid.UUID
) -> Strategy:
    """Archive (the API's DELETE); an archived strategy stays archived."""
    strategy = await owned_strategy(session, owner_id=owner_id, strategy_id=strategy_id, lock=True)
    if strategy.status != StrategyStatus.ARCHIVED:
        _move(strategy, StrategyStatus.ARCHIVED)
    return await _saved(session, strategy)


async def _saved(session: AsyncSession, strategy: Strategy) -> Strategy:
    """Flushed, with the trigger-moved updated_at read back."""
    await session.flush()
    await session.refresh(strategy)
    return strategy


# --- on-chain registration ---------------------------------------------------------------


async def registration_of(
    session: AsyncSession, *, owner_id: uuid.UUID, strategy_id: uuid.UUID
) -> StrategyRegistration:
    await owned_strategy(session, owner_id=owner_id, strategy_id=strategy_id)
    registration = await session.scalar(
        select(StrategyRegistration).where(StrategyRegistration.strategy_id == strategy_id)
    )
    if registration is None:
        raise RegistrationNotFound()
    return registration


async def request_registration(
    session: AsyncSession, *, owner_id: uuid.UUID, strategy_id: uuid.UUID
) -> StrategyRegistration:
    """The PENDING registration the client submits on chain with its `metadata_uri`.

    Asking again returns the same row (a lost response is retried safely), also a FAILED one:
    the indexer registers it once the owner's own StrategyCreated of the URI arrives, whoever
    created it first. A REGISTERED strategy is ALREADY_REGISTERED. Events already indexed for
    the URI (the client may have submitted before asking) are projected again at once.
    """
    strategy = await owned_strategy(session, owner_id=owner_id, strategy_id=strategy_id, lock=True)
    if strategy.status == StrategyStatus.ARCHIVED:
        raise StrategyArchived()
    registration = await session.scalar(
        select(StrategyRegistration).where(StrategyRegistration.strategy_id == strategy_id)
    )
    if registration is not None:
        if registration.status == RegistrationStatus.REGISTERED:
            raise AlreadyRegistered()
        return registration
    if not await _has_verified_wallet(session, owner_id):
        raise VerifiedWalletRequired()
    registration = StrategyRegistration(
        strategy_id=strategy_id,
        author_id=owner_id,
        metadata_uri=metadata_uri(strategy_id),
        status=RegistrationStatus.PENDING,
    )
    session.add(registration)
    await session.flush()
    await projections.replay_parked(session, metadata_uris=[registration.metadata_uri])
    await session.refresh(registration)
    return registration


async def _has_verified_wallet(session: AsyncSession, user_id: uuid.UUID) -> bool:
    found = await session.scalar(
        select(exists().where(Wallet.user_id == user_id, Wallet.is_verified.is_(True)))
    )
    return bool(found)
