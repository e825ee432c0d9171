"""Merkle proofs of single executions against their day's committed root (settlement.md,
"Merkle leaves"): what a user shows to MerkleProof.verify on chain or to the JS library."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from db.enums import ExecutionStatus
from db.models import DayCommit, Execution
from settlement import rules
from settlement.errors import CommittedRootMismatch, DayNotCommitted, ExecutionNotFilled
from settlement.merkle import LEAF_TYPES, ExecutionLeaf, js_values, proof_for

log = structlog.get_logger("gr8d.settlement")


@dataclass(frozen=True, slots=True)
class ExecutionProof:
    execution_id: uuid.UUID
    strategy_id: uuid.UUID
    day_index: int
    leaf_encoding: tuple[str, ...]
    leaf_values: tuple[str, ...]
    leaf: str
    proof: list[str]
    root: str
    leaf_count: int
    onchain_tx_hash: str | None


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


async def proof_of(session: AsyncSession, *, execution: Execution) -> ExecutionProof:
    """The proof of a FILLED execution in its strategy's day, checked against the root that
    the daily settlement committed. ExecutionNotFilled, DayNotCommitted or
    CommittedRootMismatch otherwise."""
    if execution.status != ExecutionStatus.FILLED.value or execution.executed_at is None:
        raise ExecutionNotFilled(execution.id, execution.status)
    day_index = rules.day_index_of(execution.executed_at)
    day = rules.date_of_day_index(day_index).isoformat()
    commit = await session.scalar(
        select(DayCommit).where(
            DayCommit.strategy_id == execution.strategy_id, DayCommit.day_index == day_index
        )
    )
    if commit is None:
        raise DayNotCommitted(execution.id, day)
    start, end = rules.day_bounds(day_index)
    executions = await session.scalars(
        select(Execution).where(
            Execution.strategy_id == execution.strategy_id,
            Execution.status == ExecutionStatus.FILLED.value,
            Execution.executed_at >= start,
            Execution.executed_at < end,
        )
    )
    leaves = [_leaf(row) for row in executions]
    # Hashing a big day's tree is CPU work: keep it off the event loop.
    leaf, proof, root = await asyncio.to_thread(proof_for, leaves, execution.id)
    if root != commit.merkle_root or len(leaves) != commit.leaf_count:
        log.error(
            "day no longer matches its committed root",
            strategy_id=str(execution.strategy_id),
            day=day,
            committed=commit.merkle_root,
            computed=root,
        )
        raise CommittedRootMismatch(execution.strategy_id, day)
    return ExecutionProof(
        execution_id=execution.id,
        strategy_id=execution.strategy_id,
        day_index=day_index,
        leaf_encoding=LEAF_TYPES,
        leaf_values=js_values(_leaf(execution).abi_values()),
        leaf=leaf,
        proof=proof,
        root=root,
        leaf_count=commit.leaf_count,
        onchain_tx_hash=commit.onchain_tx_hash,
    )
