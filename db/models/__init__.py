"""All tables of schema.md; importing this package registers them on `Base.metadata`."""

from db.base import Base
from db.models.chain import Follow, StakingRecord, StrategyRegistration, Wallet
from db.models.internal import (
    ChainBlock,
    ChainEvent,
    DayCommit,
    IdempotencyKey,
    IndexerCursor,
    IndexerReorg,
    SettlementRun,
    StakingCheckpoint,
)
from db.models.keys import Credential, Ohlcv
from db.models.settlements import AuthorRoyalty, Settlement
from db.models.strategies import Backtest, Execution, Strategy
from db.models.templates import Template, TemplateClone
from db.models.users import Credit, CreditTransaction, User

__all__ = [
    "AuthorRoyalty",
    "Backtest",
    "Base",
    "ChainBlock",
    "ChainEvent",
    "Credential",
    "Credit",
    "CreditTransaction",
    "DayCommit",
    "Execution",
    "Follow",
    "IdempotencyKey",
    "IndexerCursor",
    "IndexerReorg",
    "Ohlcv",
    "Settlement",
    "SettlementRun",
    "StakingCheckpoint",
    "StakingRecord",
    "Strategy",
    "StrategyRegistration",
    "Template",
    "TemplateClone",
    "User",
    "Wallet",
]
