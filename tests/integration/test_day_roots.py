"""settlement.day_roots: PostgreSQL's leaf encoding is abi.encode byte for byte, its roots are
the @openzeppelin/merkle-tree roots, and a run reads the executions its own transaction sees."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from eth_abi.abi import encode
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db.models import DayCommit, Execution
from settlement import rules, service
from settlement.day_roots import LEAF_ENCODING, DayRootsReader
from settlement.merkle import (
    LEAF_TYPES,
    ExecutionLeaf,
    day_tree,
    leaf_hashes_of_encoded,
    root_of_leaf_hashes,
)
from tests.factories import add_execution, add_strategy, add_user, policy

VECTORS: dict[str, Any] = json.loads(
    (Path(__file__).resolve().parents[1] / "vectors" / "merkle" / "vectors.json").read_text()
)
DAY = dt.date(2026, 11, 20)
NOON = dt.datetime(2026, 11, 20, 12, tzinfo=dt.UTC)

_ENCODE = text(
    f"""
    SELECT {LEAF_ENCODING}
    FROM unnest(
        CAST(:ids AS uuid[]), CAST(:user_ids AS uuid[]), CAST(:sides AS varchar[]),
        CAST(:amounts AS numeric[]), CAST(:prices AS numeric[]), CAST(:ats AS timestamptz[])
    ) WITH ORDINALITY AS e(id, user_id, side, amount, executed_price, executed_at, n)
    ORDER BY e.n
    """
)


async def sql_encodings(session: AsyncSession, leaves: list[ExecutionLeaf]) -> list[bytes]:
    rows = await session.execute(
        _ENCODE,
        {
            "ids": [leaf.execution_id for leaf in leaves],
            "user_ids": [leaf.user_id for leaf in leaves],
            "sides": [leaf.side for leaf in leaves],
            "amounts": [leaf.amount for leaf in leaves],
            "prices": [leaf.executed_price for leaf in leaves],
            "ats": [leaf.executed_at for leaf in leaves],
        },
    )
    return list(rows.scalars())


execution_leaves = st.builds(
    ExecutionLeaf,
    execution_id=st.uuids(),
    user_id=st.uuids(),
    side=st.sampled_from(["BUY", "SELL"]),
    # Up to NUMERIC(20,8)'s largest, past a signed bigint once scaled by 10^8.
    amount=st.decimals(min_value=0, max_value=Decimal("999999999999.99999999"), places=8),
    executed_price=st.one_of(
        st.decimals(min_value=0, max_value=Decimal("999999999999.99999999"), places=8),
        st.sampled_from([Decimal("92233720368.54775807"), Decimal("92233720368.54775808")]),
    ),
    executed_at=st.datetimes(
        min_value=dt.datetime(1970, 1, 1),
        max_value=dt.datetime(2200, 1, 1),
        timezones=st.just(dt.UTC),
    ),
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(leaves=st.lists(execution_leaves, min_size=1, max_size=20))
async def test_the_sql_leaf_encoding_is_abi_encode(
    session: AsyncSession, leaves: list[ExecutionLeaf]
) -> None:
    assert await sql_encodings(session, leaves) == [
        encode(list(LEAF_TYPES), list(leaf.abi_values())) for leaf in leaves
    ]


def fits_the_executions_table(leaf: dict[str, Any]) -> bool:
    """Whether a vector's leaf is an execution NUMERIC(20,8) can hold (some are uint256
    extremes that only the Merkle module itself must handle)."""
    execution = leaf["execution"]
    return execution is not None and all(
        Decimal(execution[name]) < 10**12 for name in ("amount", "executedPrice")
    )


def vector_leaf(execution: dict[str, str]) -> ExecutionLeaf:
    return ExecutionLeaf(
        execution_id=uuid.UUID(execution["executionId"]),
        user_id=uuid.UUID(execution["userId"]),
        side=execution["side"],
        amount=Decimal(execution["amount"]),
        executed_price=Decimal(execution["executedPrice"]),
        executed_at=dt.datetime.fromisoformat(execution["executedAt"]),
    )


TABLE_TREES = [t for t in VECTORS["trees"] if all(map(fits_the_executions_table, t["leaves"]))]
TABLE_LEAVES = [
    leaf for tree in VECTORS["trees"] for leaf in tree["leaves"] if fits_the_executions_table(leaf)
]


async def test_sql_encoded_leaves_hash_to_the_librarys_leaf_hashes(session: AsyncSession) -> None:
    leaves = [vector_leaf(leaf["execution"]) for leaf in TABLE_LEAVES]

    hashes = leaf_hashes_of_encoded(b"".join(await sql_encodings(session, leaves)))

    assert len(TABLE_LEAVES) > 50
    assert ["0x" + h.hex() for h in hashes] == [leaf["hash"] for leaf in TABLE_LEAVES]


@pytest.mark.parametrize("vector", TABLE_TREES, ids=[t["name"] for t in TABLE_TREES])
async def test_sql_encoded_leaves_give_the_librarys_root(
    session: AsyncSession, vector: dict[str, Any]
) -> None:
    leaves = [vector_leaf(leaf["execution"]) for leaf in vector["leaves"]]

    encoded = b"".join(await sql_encodings(session, leaves))

    assert root_of_leaf_hashes(leaf_hashes_of_encoded(encoded)) == vector["root"]


async def test_a_run_that_wrote_the_days_executions_itself_commits_them(
    session: AsyncSession,
) -> None:
    """Uncommitted rows are invisible to a second connection: the reader falls back to the
    caller's own connection."""
    author = await add_user(session)
    follower = await add_user(session)
    strategy = await add_strategy(session, author)
    for hour in (1, 2):
        await add_execution(
            session,
            user_id=follower,
            strategy_id=strategy,
            amount="2",
            price="100",
            executed_at=NOON.replace(hour=hour),
        )

    report = await service.settle_day(
        session, day_index=rules.day_index_of_date(DAY), policy=policy()
    )

    executions = (await session.scalars(select(Execution))).all()
    commit = await session.scalar(select(DayCommit))
    assert report.day_commits_written == 1
    assert commit is not None
    assert (commit.leaf_count, commit.total_volume) == (2, Decimal("400"))
    assert commit.merkle_root == day_tree([_leaf(e) for e in executions]).root


async def test_the_reader_beside_the_run_sees_the_runs_snapshot(
    session: AsyncSession, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    """An execution committed after the run took its snapshot is not among the leaves, even
    when the reader's query starts after that commit (the table lock makes sure it does)."""
    author = await add_user(session)
    strategy = await add_strategy(session, author)
    await add_execution(
        session, user_id=author, strategy_id=strategy, amount="1", price="1", executed_at=NOON
    )
    await session.commit()
    start, end = rules.day_bounds(rules.day_index_of_date(DAY))

    async with session_factory() as other:
        await add_execution(
            other, user_id=author, strategy_id=strategy, amount="1", price="2", executed_at=NOON
        )
        await other.execute(text("LOCK TABLE executions IN ACCESS EXCLUSIVE MODE"))
        async with DayRootsReader(session, start, end) as reader:
            await other.commit()
            [root] = await reader.roots()

    assert root.leaf_count == 1


async def test_an_execution_no_leaf_can_hold_is_refused(session: AsyncSession) -> None:
    author = await add_user(session)
    strategy = await add_strategy(session, author)
    await add_execution(
        session, user_id=author, strategy_id=strategy, amount="1", price="-1", executed_at=NOON
    )
    await session.commit()
    start, end = rules.day_bounds(rules.day_index_of_date(DAY))

    async with DayRootsReader(session, start, end) as reader:
        with pytest.raises(ValueError, match="no leaf can hold"):
            await reader.roots()


def _leaf(execution: Execution) -> ExecutionLeaf:
    assert execution.executed_price is not None and execution.executed_at is not None
    return ExecutionLeaf(
        execution_id=execution.id,
        user_id=execution.user_id,
        side=execution.side,
        amount=execution.amount,
        executed_price=execution.executed_price,
        executed_at=execution.executed_at,
    )


async def test_a_run_inside_a_savepoint_reads_on_its_own_connection(
    session: AsyncSession,
) -> None:
    author = await add_user(session)
    strategy = await add_strategy(session, author)
    await add_execution(
        session, user_id=author, strategy_id=strategy, amount="3", price="7", executed_at=NOON
    )
    await session.commit()

    async with session.begin_nested():
        report = await service.settle_day(
            session, day_index=rules.day_index_of_date(DAY), policy=policy()
        )

    commit = await session.scalar(select(DayCommit))
    assert report.day_commits_written == 1
    assert commit is not None and commit.total_volume == Decimal("21")


async def test_a_run_that_fails_midway_stops_the_reader_and_the_day_settles_later(
    session: AsyncSession, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    author = await add_user(session)
    strategy = await add_strategy(session, author)
    broken = await add_execution(
        session, user_id=author, strategy_id=strategy, amount="1", price="-5", executed_at=NOON
    )
    await session.commit()
    day_index = rules.day_index_of_date(DAY)

    async with session_factory() as failing:
        with pytest.raises(IntegrityError, match="amounts_not_negative"):
            await service.settle_day(failing, day_index=day_index, policy=policy())
        await failing.rollback()
    await session.execute(update(Execution).where(Execution.id == broken).values(executed_price=5))
    await session.commit()
    report = await service.settle_day(session, day_index=day_index, policy=policy())

    assert (report.settlements_written, report.day_commits_written) == (1, 1)
