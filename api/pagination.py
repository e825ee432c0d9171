"""`?page=1&size=20` → `{items, total, page, size, pages}` (api.md "Pagination")."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, Field
from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

Item = TypeVar("Item")


class PageQuery(BaseModel):
    page: int = Field(default=1, ge=1, le=1_000_000)
    size: int = Field(default=20, ge=1, le=100)


class Page(BaseModel, Generic[Item]):
    items: list[Item]
    total: int
    page: int
    size: int
    pages: int

    @classmethod
    def of(cls, items: Sequence[Item], *, total: int, query: PageQuery) -> Page[Item]:
        return cls(
            items=list(items),
            total=total,
            page=query.page,
            size=query.size,
            pages=math.ceil(total / query.size) if total else 0,
        )


async def paginate(
    session: AsyncSession,
    statement: Select[Any],
    query: PageQuery,
    convert: Callable[[Any], Item],
) -> Page[Item]:
    """One page of `statement` (which must already have a stable ORDER BY) and the total."""
    total = await session.scalar(
        select(func.count()).select_from(statement.order_by(None).subquery())
    )
    rows = await session.scalars(statement.offset((query.page - 1) * query.size).limit(query.size))
    page: Page[Any] = Page.of([convert(row) for row in rows], total=total or 0, query=query)
    return page
