"""Projections of the raw protocol events into the domain tables (chain.md, "From events to
rows"). Work in progress: the set-based projections land in the next commits.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession


@dataclass
class ProjectionReport:
    """What one projection pass did, by outcome."""

    applied: int = 0
    parked: int = 0
    raw_only: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)


async def project_new(
    session: AsyncSession,
    *,
    chain_id: int,
    first_block: int,
    last_block: int,
    finalized_block: int,
) -> ProjectionReport:
    """Project the PENDING events of blocks first_block..last_block (inclusive)."""
    return ProjectionReport()


async def confirm_until(session: AsyncSession, *, chain_id: int, finalized_block: int) -> int:
    """Staking records of blocks <= finalized_block become CONFIRMED; returns how many."""
    return 0
