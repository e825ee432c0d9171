"""The closed value sets of schema.md; each is stored as VARCHAR with a CHECK."""

from __future__ import annotations

from enum import StrEnum


class TransactionType(StrEnum):
    PURCHASE = "PURCHASE"
    BACKTEST = "BACKTEST"
    EXECUTION = "EXECUTION"
    TEMPLATE_CLONE = "TEMPLATE_CLONE"
    SETTLEMENT_FEE = "SETTLEMENT_FEE"
    AUTHOR_FEE = "AUTHOR_FEE"
    ROYALTY = "ROYALTY"
    ADMIN_ADJUSTMENT = "ADMIN_ADJUSTMENT"
    REFUND = "REFUND"


class StrategyStatus(StrEnum):
    DRAFT = "DRAFT"
    DEPLOYED = "DEPLOYED"
    PAUSED = "PAUSED"
    ARCHIVED = "ARCHIVED"


class BacktestStatus(StrEnum):
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"


class OrderSide(StrEnum):
    BUY = "BUY"
    SELL = "SELL"


class OrderType(StrEnum):
    MARKET = "MARKET"
    LIMIT = "LIMIT"


class ExecutionStatus(StrEnum):
    PENDING = "PENDING"
    FILLED = "FILLED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


class CredentialType(StrEnum):
    LLM = "LLM"
    EXCHANGE = "EXCHANGE"


class StakingType(StrEnum):
    STAKE = "STAKE"
    UNSTAKE = "UNSTAKE"


class StakingStatus(StrEnum):
    PENDING = "PENDING"
    CONFIRMED = "CONFIRMED"
    FAILED = "FAILED"


class RegistrationStatus(StrEnum):
    PENDING = "PENDING"
    REGISTERED = "REGISTERED"
    FAILED = "FAILED"


class OnchainStrategyStatus(StrEnum):
    DRAFT = "DRAFT"
    PENDING_REVIEW = "PENDING_REVIEW"
    VERIFIED = "VERIFIED"
    ACTIVATION_REQUESTED = "ACTIVATION_REQUESTED"
    ACTIVE = "ACTIVE"
    SUSPENDED = "SUSPENDED"
    REJECTED = "REJECTED"


class SettlementStatus(StrEnum):
    PENDING = "PENDING"
    PAID = "PAID"
    FAILED = "FAILED"


class PaidVia(StrEnum):
    CREDITS = "CREDITS"
    ONCHAIN = "ONCHAIN"


class RoyaltyStatus(StrEnum):
    PENDING = "PENDING"
    PAID = "PAID"
    CANCELLED = "CANCELLED"


class ProjectionStatus(StrEnum):
    """What became of a chain event's projection into the domain tables."""

    PENDING = "PENDING"
    APPLIED = "APPLIED"
    PARKED = "PARKED"
    RAW_ONLY = "RAW_ONLY"
    FAILED = "FAILED"


class RunKind(StrEnum):
    DAILY = "DAILY"
    ROYALTY = "ROYALTY"


class RunStatus(StrEnum):
    RUNNING = "RUNNING"
    DONE = "DONE"
    FAILED = "FAILED"


def values(enum: type[StrEnum]) -> tuple[str, ...]:
    return tuple(member.value for member in enum)
