"""Bodies of the strategies area: strategies, their on-chain registration and followers."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import Row

from api.pagination import PageQuery
from db.enums import OnchainStrategyStatus, RegistrationStatus, StrategyStatus
from db.models import Strategy, StrategyRegistration
from strategies.definitions import storable_text

MAX_DESCRIPTION_LENGTH = 10_000


def _storable(text: str) -> str:
    if not storable_text(text):
        raise ValueError("must be UTF-8 text without NUL characters")
    return text


# Text PostgreSQL can store: a NUL or a lone surrogate is a 422, not a database error.
StoredText = Annotated[str, AfterValidator(_storable)]
Definition = dict[str, Any]
_DEFINITION_DOC = (
    '{"nodes": [{"id", "type", "config"}], "edges": [{"from_node", "to_node", "condition"?}]}; '
    "node types trigger, data_source, indicator, condition, llm, action"
)


class StrategyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: StoredText = Field(min_length=1, max_length=255)
    description: StoredText | None = Field(default=None, max_length=MAX_DESCRIPTION_LENGTH)
    definition: Definition = Field(description=_DEFINITION_DOC)
    is_public: bool = False


class StrategyPatch(BaseModel):
    """Only the fields present change; `description: null` clears the description."""

    model_config = ConfigDict(extra="forbid")

    name: StoredText | None = Field(default=None, min_length=1, max_length=255)
    description: StoredText | None = Field(default=None, max_length=MAX_DESCRIPTION_LENGTH)
    definition: Definition | None = Field(default=None, description=_DEFINITION_DOC)
    is_public: bool | None = None

    @field_validator("name", "definition", "is_public")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("may be left out, but not null")
        return value


class StrategyOut(BaseModel):
    id: uuid.UUID
    owner_id: uuid.UUID
    name: str
    description: str | None
    status: StrategyStatus
    is_public: bool
    definition: Definition | None = Field(
        description="the owner's only: null on another user's public strategy"
    )
    created_at: dt.datetime
    updated_at: dt.datetime

    @classmethod
    def from_row(cls, row: Strategy, *, viewer_id: uuid.UUID) -> StrategyOut:
        return cls(
            id=row.id,
            owner_id=row.user_id,
            name=row.name,
            description=row.description,
            status=StrategyStatus(row.status),
            is_public=row.is_public,
            definition=row.definition if row.user_id == viewer_id else None,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


class StrategySummaryOut(BaseModel):
    """A strategy in a list (its definition is fetched one strategy at a time)."""

    id: uuid.UUID
    owner_id: uuid.UUID
    name: str
    description: str | None
    status: StrategyStatus
    is_public: bool
    created_at: dt.datetime
    updated_at: dt.datetime

    @classmethod
    def from_row(cls, row: Strategy | Row[Any]) -> StrategySummaryOut:
        """From a strategy or a row of strategies.service.SUMMARY_COLUMNS (validation turns the
        stored status into a StrategyStatus)."""
        return cls(
            id=row.id,
            owner_id=row.user_id,
            name=row.name,
            description=row.description,
            status=row.status,
            is_public=row.is_public,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


class StrategyQuery(PageQuery):
    public: bool = Field(
        default=False, description="true: other users' public strategies instead of mine"
    )
    status: StrategyStatus | None = Field(
        default=None, description="mine leave ARCHIVED out unless asked for by status"
    )
    search: StoredText | None = Field(
        default=None, min_length=1, max_length=100, description="part of the name"
    )


class RegistrationOut(BaseModel):
    id: uuid.UUID
    strategy_id: uuid.UUID
    status: RegistrationStatus
    metadata_uri: str = Field(description="pass it to StrategyRegistry.createStrategy")
    onchain_strategy_id: int | None
    onchain_status: OnchainStrategyStatus | None
    onchain_tx_hash: str | None
    merkle_root: str | None
    created_at: dt.datetime
    registered_at: dt.datetime | None

    @classmethod
    def from_row(cls, row: StrategyRegistration) -> RegistrationOut:
        return cls(
            id=row.id,
            strategy_id=row.strategy_id,
            status=RegistrationStatus(row.status),
            metadata_uri=row.metadata_uri,
            onchain_strategy_id=row.onchain_strategy_id,
            onchain_status=None
            if row.onchain_status is None
            else OnchainStrategyStatus(row.onchain_status),
            onchain_tx_hash=row.onchain_tx_hash,
            merkle_root=row.merkle_root,
            created_at=row.created_at,
            registered_at=row.registered_at,
        )


class FollowerCountOut(BaseModel):
    strategy_id: uuid.UUID
    followers: int = Field(description="active follows of this strategy")
