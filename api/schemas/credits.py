"""Bodies of the credits area: balance, ledger history, charges and admin adjustments."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import Row

from api.pagination import PageQuery
from api.schemas.text import StoredText
from db.enums import TransactionType
from db.models import CreditTransaction

MAX_CREDITS = 10**12  # far above any real purchase, far below BIGINT


class BalanceOut(BaseModel):
    balance: int


class TransactionOut(BaseModel):
    id: uuid.UUID
    amount: int = Field(description="signed: + in, − out")
    balance_after: int
    type: TransactionType
    reference_id: uuid.UUID | None
    description: str | None
    created_at: dt.datetime

    @classmethod
    def from_row(cls, row: CreditTransaction | Row[Any]) -> TransactionOut:
        """From a posting or a row of accounts.credits.HISTORY_COLUMNS (validation turns the
        stored type into a TransactionType)."""
        return cls(
            id=row.id,
            amount=row.amount,
            balance_after=row.balance_after,
            type=row.type,
            reference_id=row.reference_id,
            description=row.description,
            created_at=row.created_at,
        )


class TransactionQuery(PageQuery):
    type: TransactionType | None = None


class ChargeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_id: uuid.UUID
    amount: int = Field(gt=0, le=MAX_CREDITS)
    reference: str = Field(
        min_length=1,
        max_length=200,
        pattern=r"^[\x21-\x7e]+$",
        description="the payment's id at the provider; one charge per user and reference",
    )


class AdjustmentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount: int = Field(
        ge=-MAX_CREDITS,
        le=MAX_CREDITS,
        description="signed, never 0",
        json_schema_extra={"not": {"const": 0}},
    )
    description: StoredText = Field(min_length=1, max_length=500)

    @field_validator("amount")
    @classmethod
    def _moves_something(cls, amount: int) -> int:
        if amount == 0:
            raise ValueError("amount must not be 0")
        return amount
