"""Indexer projections: chain_events indexes to find an event family by its key.

The projections (indexer/projections.py) re-derive a wallet's staking records, a strategy's
registration and on-chain status, a follow, a day's commit and a settlement from the events
of that key; these partial indexes make each lookup an index scan, whatever the table's size.

Revision ID: 0002_indexer_projections
Revises: 0001
Create Date: 2026-11-24 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_indexer_projections"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WALLET_STAKING_EVENTS = ("Staked", "UnstakeRequested", "Withdrawn")
REGISTRY_EVENTS = (
    "StrategyCreated",
    "StrategyUpdated",
    "VerificationRequested",
    "StrategyVerified",
    "ActivationRequested",
    "StrategyActivated",
    "StrategySuspended",
    "StrategyRejected",
)
FOLLOW_EVENTS = ("FollowStarted", "FollowPaused", "FollowResumed", "FollowStopped")
SETTLEMENT_EVENTS = ("SettlementCreated", "SettlementPaid", "SettlementExpired")


def _named(events: tuple[str, ...]) -> sa.TextClause:
    return sa.text("event_name IN (" + ", ".join(f"'{name}'" for name in events) + ")")


def _arg(name: str) -> sa.TextClause:
    return sa.text(f"(args ->> '{name}')")


def upgrade() -> None:
    op.create_index(
        "ix_chain_events_staking_wallet",
        "chain_events",
        ["chain_id", _arg("user"), "block_number", "log_index"],
        postgresql_where=_named(WALLET_STAKING_EVENTS),
    )
    op.create_index(
        "ix_chain_events_registry_strategy",
        "chain_events",
        ["chain_id", _arg("strategyId"), "block_number", "log_index"],
        postgresql_where=_named(REGISTRY_EVENTS),
    )
    op.create_index(
        "ix_chain_events_follow_strategy_user",
        "chain_events",
        ["chain_id", _arg("strategyId"), _arg("user")],
        postgresql_where=_named(FOLLOW_EVENTS),
    )
    op.create_index(
        "ix_chain_events_day_committed_strategy_day",
        "chain_events",
        ["chain_id", _arg("strategyId"), sa.text("(CAST(args ->> 'dayIndex' AS numeric))")],
        postgresql_where=sa.text("event_name = 'DayCommitted'"),
    )
    op.create_index(
        "ix_chain_events_settlement_id",
        "chain_events",
        ["chain_id", _arg("settlementId")],
        postgresql_where=_named(SETTLEMENT_EVENTS),
    )
    op.create_index(
        "ix_chain_events_created_uri",
        "chain_events",
        [_arg("metadataURI")],
        postgresql_using="hash",
        postgresql_where=sa.text("event_name = 'StrategyCreated'"),
    )


def downgrade() -> None:
    for name in (
        "ix_chain_events_created_uri",
        "ix_chain_events_settlement_id",
        "ix_chain_events_day_committed_strategy_day",
        "ix_chain_events_follow_strategy_user",
        "ix_chain_events_registry_strategy",
        "ix_chain_events_staking_wallet",
    ):
        op.drop_index(name, table_name="chain_events")
