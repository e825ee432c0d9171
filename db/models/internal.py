"""Tables the parts need for themselves: chain view, settlement memory, idempotency."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base, created_at, enum_check, optional_at, updated_at, uuid_pk
from db.enums import ProjectionStatus, RunKind, RunStatus, values


class ChainBlock(Base):
    """Recent blocks as the indexer saw them: the unfinalized window it checks for reorgs."""

    __tablename__ = "chain_blocks"

    chain_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    number: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    hash: Mapped[str] = mapped_column(String(66), nullable=False)
    parent_hash: Mapped[str] = mapped_column(String(66), nullable=False)
    timestamp: Mapped[dt.datetime] = mapped_column(nullable=False)


# The event families the projections look up by their key (indexer/projections.py). Each
# partial index below names its family, so a lookup that names the same events can use it.
STAKING_EVENTS = ("Staked", "Withdrawn")
# The wallet index also serves the API's pending unstakes (UnstakeRequested by wallet).
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


def _named(events: tuple[str, ...]) -> Any:
    return text("event_name IN (" + ", ".join(f"'{name}'" for name in events) + ")")


def _arg(name: str) -> Any:
    return text(f"(args ->> '{name}')")


class ChainEvent(Base):
    """Every protocol log, raw (topics, data) and decoded; projections are rebuilt from here."""

    __tablename__ = "chain_events"
    __table_args__ = (
        UniqueConstraint("chain_id", "tx_hash", "log_index"),
        CheckConstraint(
            enum_check("projection_status", values(ProjectionStatus)), name="projection_status"
        ),
        CheckConstraint(
            "args IS NOT NULL OR (topics IS NOT NULL AND data IS NOT NULL)", name="decoded_or_raw"
        ),
        Index("ix_chain_events_chain_id_block_number", "chain_id", "block_number"),
        Index(
            "ix_chain_events_unprojected",
            "projection_status",
            postgresql_where=text("projection_status <> 'APPLIED'"),
        ),
        # A wallet's stakes in chain order: its running balance gives each record's tier.
        Index(
            "ix_chain_events_staking_wallet",
            "chain_id",
            _arg("user"),
            "block_number",
            "log_index",
            postgresql_where=_named(WALLET_STAKING_EVENTS),
        ),
        # A strategy's registry events in chain order: the last one is its on-chain status.
        Index(
            "ix_chain_events_registry_strategy",
            "chain_id",
            _arg("strategyId"),
            "block_number",
            "log_index",
            postgresql_where=_named(REGISTRY_EVENTS),
        ),
        # The follow events of one (strategy, wallet), or of one strategy.
        Index(
            "ix_chain_events_follow_strategy_user",
            "chain_id",
            _arg("strategyId"),
            _arg("user"),
            postgresql_where=_named(FOLLOW_EVENTS),
        ),
        # A strategy's latest committed day: its root is the registration's merkle_root.
        Index(
            "ix_chain_events_day_committed_strategy_day",
            "chain_id",
            _arg("strategyId"),
            text("(CAST(args ->> 'dayIndex' AS numeric))"),
            postgresql_where=text("event_name = 'DayCommitted'"),
        ),
        Index(
            "ix_chain_events_settlement_id",
            "chain_id",
            _arg("settlementId"),
            postgresql_where=_named(SETTLEMENT_EVENTS),
        ),
        # Hash, not B-tree: a URI of any length can be indexed (a B-tree entry has a size cap
        # an on-chain string could exceed and so make the raw event unstorable).
        Index(
            "ix_chain_events_created_uri",
            _arg("metadataURI"),
            postgresql_using="hash",
            postgresql_where=text("event_name = 'StrategyCreated'"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    chain_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    block_number: Mapped[int] = mapped_column(BigInteger, nullable=False)
    block_hash: Mapped[str] = mapped_column(String(66), nullable=False)
    block_timestamp: Mapped[dt.datetime] = mapped_column(nullable=False)
    tx_hash: Mapped[str] = mapped_column(String(66), nullable=False)
    log_index: Mapped[int] = mapped_column(Integer, nullable=False)
    contract_address: Mapped[str] = mapped_column(String(42), nullable=False)
    event_name: Mapped[str] = mapped_column(String(64), nullable=False)
    # The raw log, for the logs whose args could not be stored (undecoded, or a value JSON
    # cannot hold): a decoded log's args are its exact values, and keeping both cost a third
    # of the insert.
    topics: Mapped[list[str] | None] = mapped_column(JSONB)
    data: Mapped[str | None] = mapped_column(Text)
    # NULL when the decoded values cannot be stored as JSON (a NUL byte, invalid UTF-8).
    args: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    projection_status: Mapped[str] = mapped_column(
        String(20), nullable=False, server_default=text("'PENDING'")
    )
    projection_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = created_at()


class StakingCheckpoint(Base):
    """A wallet's stake on one chain after one of its staking events: the sum of its non-FAILED
    Staked amounts less its Withdrawn amounts up to (block_number, log_index).

    The staking projection starts each wallet's running balance here instead of summing its
    whole history every batch, unless some of the events it sums are parked (`parked`: the
    wallet was no verified one's): their records are still to be written, with tiers from the
    whole history. Derived from chain_events: an unwind, or a stake refused after it was
    summed, rebuilds the checkpoints of the wallets concerned from what remains."""

    __tablename__ = "staking_checkpoints"

    chain_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    wallet_address: Mapped[str] = mapped_column(Text, primary_key=True)
    staked_wei: Mapped[Decimal] = mapped_column(Numeric, nullable=False)
    block_number: Mapped[int] = mapped_column(BigInteger, nullable=False)
    log_index: Mapped[int] = mapped_column(Integer, nullable=False)
    parked: Mapped[bool] = mapped_column(nullable=False)


class IndexerCursor(Base):
    __tablename__ = "indexer_cursors"

    # The chain's own id: never generated (a one-column integer key would otherwise be serial).
    chain_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    last_block_number: Mapped[int] = mapped_column(BigInteger, nullable=False)
    last_block_hash: Mapped[str] = mapped_column(String(66), nullable=False)
    finalized_block_number: Mapped[int] = mapped_column(
        BigInteger, nullable=False, server_default=text("0")
    )
    # Events written for the chain, ever (unwinds do not take any back): with the cursor, the
    # figures other processes turn into events/s and blocks/s.
    events_indexed: Mapped[int] = mapped_column(
        BigInteger, nullable=False, server_default=text("0")
    )
    updated_at: Mapped[dt.datetime] = updated_at()


class IndexerReorg(Base):
    """Each chain reorganisation the indexer unwound (for operators: /admin/indexer shows the
    latest), written in the transaction that unwinds it."""

    __tablename__ = "indexer_reorgs"
    __table_args__ = (
        CheckConstraint("depth > 0", name="depth_positive"),
        Index("ix_indexer_reorgs_chain_id_detected_at", "chain_id", text("detected_at DESC")),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    chain_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    # The blocks common_ancestor + 1 .. replaced_to were unwound; depth counts them.
    common_ancestor: Mapped[int] = mapped_column(BigInteger, nullable=False)
    replaced_to: Mapped[int] = mapped_column(BigInteger, nullable=False)
    depth: Mapped[int] = mapped_column(Integer, nullable=False)
    old_block_hash: Mapped[str] = mapped_column(String(66), nullable=False)
    detected_at: Mapped[dt.datetime] = created_at()


class DayCommit(Base):
    __tablename__ = "day_commits"
    __table_args__ = (
        UniqueConstraint("strategy_id", "day_index"),
        CheckConstraint("leaf_count > 0", name="leaf_count_positive"),
        CheckConstraint("total_volume >= 0", name="total_volume_not_negative"),
        Index("ix_day_commits_day_index", "day_index"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    strategy_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True),
        ForeignKey("strategies.id", ondelete="RESTRICT"),
        nullable=False,
        index=True,
    )
    day_index: Mapped[int] = mapped_column(BigInteger, nullable=False)
    merkle_root: Mapped[str] = mapped_column(String(66), nullable=False)
    leaf_count: Mapped[int] = mapped_column(Integer, nullable=False)
    total_volume: Mapped[Decimal] = mapped_column(Numeric(30, 8), nullable=False)
    onchain_tx_hash: Mapped[str | None] = mapped_column(String(66))
    committed_at: Mapped[dt.datetime | None] = optional_at()
    created_at: Mapped[dt.datetime] = created_at()
    updated_at: Mapped[dt.datetime] = updated_at()


class SettlementRun(Base):
    """The scheduler's memory: one row per (kind, period), so a missed period runs exactly once."""

    __tablename__ = "settlement_runs"
    __table_args__ = (
        UniqueConstraint("kind", "period"),
        CheckConstraint(enum_check("kind", values(RunKind)), name="kind"),
        CheckConstraint(enum_check("status", values(RunStatus)), name="status"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    kind: Mapped[str] = mapped_column(String(20), nullable=False)
    period: Mapped[str] = mapped_column(String(10), nullable=False)
    status: Mapped[str] = mapped_column(String(20), nullable=False)
    started_at: Mapped[dt.datetime] = created_at()
    finished_at: Mapped[dt.datetime | None] = optional_at()
    figures: Mapped[dict[str, Any]] = mapped_column(
        JSONB, nullable=False, server_default=text("'{}'::jsonb")
    )
    error: Mapped[str | None] = mapped_column(Text)


class IdempotencyKey(Base):
    """A credit-moving POST's first response, replayed for a retry with the same key and body."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (Index("ix_idempotency_keys_created_at", "created_at"),)

    user_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    request_fingerprint: Mapped[str] = mapped_column(String(64), nullable=False)
    response_status: Mapped[int | None] = mapped_column(Integer)
    response_body: Mapped[Any | None] = mapped_column(JSONB)
    created_at: Mapped[dt.datetime] = created_at()
