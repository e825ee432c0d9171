"""Bodies of the templates area: publishing, browsing, changing and cloning templates."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from api.pagination import PageQuery
from api.schemas.text import StoredText
from db.models import Template
from strategies.templates import Clone, TemplateSort

MAX_PRICE_CREDITS = 10**9


class PublishIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: StoredText = Field(min_length=1, max_length=255)
    description: StoredText | None = Field(default=None, max_length=10_000)
    price_credits: int = Field(ge=0, le=MAX_PRICE_CREDITS, description="what a clone costs")


class TemplatePatch(BaseModel):
    """Only the fields sent change; `description: null` clears it."""

    model_config = ConfigDict(extra="forbid")

    name: StoredText | None = Field(default=None, min_length=1, max_length=255)
    description: StoredText | None = Field(default=None, max_length=10_000)
    price_credits: int | None = Field(default=None, ge=0, le=MAX_PRICE_CREDITS)

    @field_validator("name", "price_credits")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("cannot be null")
        return value

    def changes(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.model_fields_set}


class TemplateQuery(PageQuery):
    search: StoredText | None = Field(
        default=None, min_length=1, max_length=100, description="part of the name or description"
    )
    sort: TemplateSort = Field(
        default=TemplateSort.NEWEST, description="newest first, or most cloned first"
    )


class TemplateOut(BaseModel):
    id: uuid.UUID
    strategy_id: uuid.UUID
    author_id: uuid.UUID
    name: str
    description: str | None
    price_credits: int
    clone_count: int
    is_active: bool
    created_at: dt.datetime
    updated_at: dt.datetime

    @classmethod
    def from_row(cls, row: Template) -> TemplateOut:
        return cls(
            id=row.id,
            strategy_id=row.strategy_id,
            author_id=row.author_id,
            name=row.name,
            description=row.description,
            price_credits=row.price_credits,
            clone_count=row.clone_count,
            is_active=row.is_active,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


class CloneOut(BaseModel):
    id: uuid.UUID = Field(description="the clone (the reference of its TEMPLATE_CLONE posting)")
    template_id: uuid.UUID
    strategy_id: uuid.UUID = Field(description="the new private DRAFT strategy")
    price_credits: int
    balance_after: int

    @classmethod
    def of(cls, clone: Clone) -> CloneOut:
        return cls(
            id=clone.id,
            template_id=clone.template_id,
            strategy_id=clone.strategy_id,
            price_credits=clone.price_credits,
            balance_after=clone.balance_after,
        )
