"""`gr8d demo --check`: is the end state of the simulation what a user should see?

Read through the API as the simulated people and the admin see it, plus two things only the
database can say: every table of the data model has rows, and the ledger invariant holds.
Each check returns the problems it found, in words; an empty list is a pass.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select, text

from db import ledger
from db.engine import create_engine, create_session_factory
from db.enums import PaidVia, RunKind, RunStatus
from db.models import Base, Settlement, SettlementRun
from gr8d.config import Settings
from settlement import service
from settlement.rules import tier_for_stake
from settlement.scheduled import month_period
from simulation.client import ApiClient, Caller
from simulation.scenario import World

INTERNAL_TABLES = {
    "chain_blocks",
    "chain_events",
    "indexer_cursors",
    "indexer_reorgs",
    "staking_checkpoints",
    "day_commits",
    "settlement_runs",
    "idempotency_keys",
}


async def _scalar(settings: Settings, statement: Any) -> Any:
    engine = create_engine(settings)
    try:
        async with create_session_factory(engine)() as session:
            return await session.scalar(statement)
    finally:
        await engine.dispose()


async def settled_everything(settings: Settings, days: Sequence[dt.date], month: dt.date) -> bool:
    periods = [day.isoformat() for day in days] + [month_period(month.year, month.month)]
    done = await _scalar(
        settings,
        select(func.count())
        .select_from(SettlementRun)
        .where(SettlementRun.period.in_(periods), SettlementRun.status == RunStatus.DONE),
    )
    return int(done or 0) == len(periods)


async def chain_final_past(settings: Settings, moment: dt.datetime) -> bool:
    engine = create_engine(settings)
    try:
        async with create_session_factory(engine)() as session:
            return await service.chain_final_past(session, moment)
    finally:
        await engine.dispose()


async def settlements_paid_onchain(settings: Settings) -> int:
    paid = await _scalar(
        settings,
        select(func.count()).select_from(Settlement).where(Settlement.paid_via == PaidVia.ONCHAIN),
    )
    return int(paid or 0)


async def check_end_state(
    api: ApiClient, admin: Caller, world: World, settings: Settings
) -> list[str]:
    problems: list[str] = []
    problems += await _people(api, world)
    problems += await _strategies(api, world)
    problems += await _money(api, admin, world)
    problems += await _database(settings)
    return problems


async def _people(api: ApiClient, world: World) -> list[str]:
    problems = []
    followed: dict[str, int] = {}
    for follower, _ in world.follows:
        followed[follower.email] = followed.get(follower.email, 0) + 1
    for person in world.people:
        summary = await api.get("/staking/summary", person.caller)
        expected = tier_for_stake(Decimal(person.stake_g8d))
        if summary["tier"] != expected:
            problems.append(f"{person.email}: staking tier {summary['tier']}, expected {expected}")
        wallets = await api.get("/wallets", person.caller)
        if not _items(wallets):
            problems.append(f"{person.email}: no verified wallet")
        follows = await api.get("/follows", person.caller)
        if follows["total"] != followed.get(person.email, 0):
            problems.append(
                f"{person.email}: {follows['total']} follows, expected "
                f"{followed.get(person.email, 0)}"
            )
    return problems


async def _strategies(api: ApiClient, world: World) -> list[str]:
    problems = []
    for strategy in world.strategies:
        registration = await api.get(
            f"/strategies/{strategy.id}/registration", strategy.author.caller
        )
        if registration["status"] != "REGISTERED" or registration.get("onchain_status") != "ACTIVE":
            problems.append(
                f"strategy {strategy.id}: registration {registration['status']} / "
                f"{registration.get('onchain_status')}, expected REGISTERED / ACTIVE"
            )
    templates = await api.get("/templates", world.people[0].caller)
    clones = sum(int(item["clone_count"]) for item in templates["items"])
    if clones != len(world.clones):
        problems.append(f"templates count {clones} clones, expected {len(world.clones)}")
    return problems


async def _money(api: ApiClient, admin: Caller, world: World) -> list[str]:
    problems = []
    for status in ("PAID", "PENDING"):
        page = await api.get("/admin/settlements", admin, params={"status": status})
        if page["total"] == 0:
            problems.append(f"no settlement is {status}")
    paid = await api.get("/admin/settlements", admin, params={"status": "PAID", "size": "100"})
    onchain = [item for item in paid["items"] if item.get("paid_via") == "ONCHAIN"]
    if len(onchain) < world.settlements_paid_onchain or not onchain:
        problems.append(
            f"{len(onchain)} settlements paid on chain, expected {world.settlements_paid_onchain}"
        )
    royalties = await api.get("/admin/royalties", admin, params={"status": "PAID"})
    if royalties["total"] == 0:
        problems.append("no royalty is PAID")
    for person in world.people:
        credits = await api.get("/credits", person.caller)
        if credits["balance"] < 0:
            problems.append(f"{person.email}: negative balance {credits['balance']}")
    return problems


async def _database(settings: Settings) -> list[str]:
    problems = []
    engine = create_engine(settings)
    try:
        async with create_session_factory(engine)() as session:
            for table in sorted(set(Base.metadata.tables) - INTERNAL_TABLES):
                rows = await session.scalar(text(f'SELECT count(*) FROM "{table}"'))
                if not rows:
                    problems.append(f"table {table} is empty")
            for kind in RunKind:
                failed = await session.scalar(
                    select(func.count())
                    .select_from(SettlementRun)
                    .where(SettlementRun.kind == kind, SettlementRun.status == RunStatus.FAILED)
                )
                if failed:
                    problems.append(f"{failed} {kind.value} settlement runs FAILED")
            violations = await ledger.invariant_violations(session)
            if violations:
                problems.append(f"ledger invariant broken for {len(violations)} users")
    finally:
        await engine.dispose()
    return problems


def _items(body: Any) -> list[Any]:
    if isinstance(body, dict):
        return list(body.get("items", []))
    return list(body or [])
