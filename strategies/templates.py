"""Templates: a strategy's definition offered for sale, and the paid clone of it.

Publishing makes an active template of one of the author's strategies (at most one active per
strategy). Anyone signed in browses and reads active templates, never the definition itself;
the author also sees their unpublished ones. Unpublishing (DELETE) deactivates: clones keep
pointing at the row, and the author may publish the strategy again as a new template.

A clone, in the caller's one transaction: the cloner pays `price_credits` (a TEMPLATE_CLONE
posting whose reference is the clone's id), gets the definition as a new private DRAFT
strategy, and the clone is counted (a `template_clones` row and `clone_count` + 1). The author
is not paid here: settlement's monthly royalty run pays authors from the month's
`template_clones` rows (count and Σ price_credits), settlement.md "Monthly royalties".
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import Select, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from db import ledger
from db.enums import StrategyStatus, TransactionType
from db.models import Strategy, Template, TemplateClone
from strategies.errors import (
    OwnTemplate,
    StrategyArchived,
    TemplateAlreadyPublished,
    TemplateInactive,
    TemplateNotFound,
)
from strategies.service import owned_strategy

EDITABLE = frozenset({"name", "description", "price_credits"})


class TemplateSort(StrEnum):
    NEWEST = "newest"
    CLONES = "clones"


@dataclass(frozen=True, slots=True)
class Clone:
    id: uuid.UUID
    template_id: uuid.UUID
    strategy_id: uuid.UUID
    price_credits: int
    balance_after: int


async def publish(
    session: AsyncSession,
    *,
    author_id: uuid.UUID,
    strategy_id: uuid.UUID,
    name: str,
    description: str | None,
    price_credits: int,
) -> Template:
    """An active template of the author's strategy; TemplateAlreadyPublished while one is."""
    # The strategy's row lock serializes two publishers of the same strategy.
    strategy = await owned_strategy(session, owner_id=author_id, strategy_id=strategy_id, lock=True)
    if strategy.status == StrategyStatus.ARCHIVED:
        raise StrategyArchived()
    active = await session.scalar(
        select(Template.id).where(Template.strategy_id == strategy_id, Template.is_active)
    )
    if active is not None:
        raise TemplateAlreadyPublished(active)
    template = Template(
        strategy_id=strategy_id,
        author_id=author_id,
        name=name,
        description=description,
        price_credits=price_credits,
    )
    session.add(template)
    await session.flush()
    await session.refresh(template)
    return template


def browse(*, search: str | None, sort: TemplateSort) -> Select[Any]:
    """Active templates, optionally whose name or description contains `search`."""
    statement = select(Template).where(Template.is_active)
    if search:
        pattern = f"%{_escape_like(search)}%"
        statement = statement.where(
            or_(
                Template.name.ilike(pattern, escape="\\"),
                Template.description.ilike(pattern, escape="\\"),
            )
        )
    if sort is TemplateSort.CLONES:
        statement = statement.order_by(Template.clone_count.desc())
    return statement.order_by(Template.created_at.desc(), Template.id.desc())


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def visible_template(
    session: AsyncSession, *, viewer_id: uuid.UUID, template_id: uuid.UUID
) -> Template:
    """An active template, or an inactive one of the viewer's own; TemplateNotFound else."""
    template = await session.scalar(
        select(Template).where(
            Template.id == template_id,
            or_(Template.is_active, Template.author_id == viewer_id),
        )
    )
    if template is None:
        raise TemplateNotFound(template_id)
    return template


async def _authored(
    session: AsyncSession, *, author_id: uuid.UUID, template_id: uuid.UUID
) -> Template:
    template = await session.scalar(
        select(Template)
        .where(Template.id == template_id, Template.author_id == author_id)
        .with_for_update()
    )
    if template is None:
        raise TemplateNotFound(template_id)
    return template


async def update_template(
    session: AsyncSession,
    *,
    author_id: uuid.UUID,
    template_id: uuid.UUID,
    changes: Mapping[str, Any],
) -> Template:
    """Change name, description or price of the author's active template. A new price holds
    for clones from now on; earlier clones keep the price they paid."""
    unknown = set(changes) - EDITABLE
    if unknown:
        raise ValueError(f"not editable: {sorted(unknown)}")
    template = await _authored(session, author_id=author_id, template_id=template_id)
    if not template.is_active:
        raise TemplateInactive(template_id)
    for name, value in changes.items():
        setattr(template, name, value)
    await session.flush()
    await session.refresh(template)
    return template


async def unpublish(session: AsyncSession, *, author_id: uuid.UUID, template_id: uuid.UUID) -> None:
    """Deactivate the author's template (again: nothing to do)."""
    template = await _authored(session, author_id=author_id, template_id=template_id)
    template.is_active = False
    await session.flush()


async def clone(session: AsyncSession, *, cloner_id: uuid.UUID, template_id: uuid.UUID) -> Clone:
    """Buy a copy of an active template's definition as a new DRAFT strategy of the cloner.

    InsufficientCredits (and nothing done) when the balance does not cover the price;
    OwnTemplate for the author; TemplateNotFound when it is not active (also when it was
    unpublished while this clone was under way)."""
    found = (
        await session.execute(
            select(Template, Strategy.definition)
            .join(Strategy, Strategy.id == Template.strategy_id)
            .where(Template.id == template_id, Template.is_active)
        )
    ).first()
    if found is None:
        raise TemplateNotFound(template_id)
    template, definition = found
    if template.author_id == cloner_id:
        raise OwnTemplate(template_id)
    clone_id = uuid.uuid4()
    balance_after = await _pay(session, cloner_id, template, clone_id)
    strategy_id: uuid.UUID = (
        await session.execute(
            insert(Strategy)
            .values(
                user_id=cloner_id,
                name=template.name,
                description=template.description,
                definition=definition,
                status=StrategyStatus.DRAFT.value,
                is_public=False,
            )
            .returning(Strategy.id)
        )
    ).scalar_one()
    await session.execute(
        insert(TemplateClone).values(
            id=clone_id,
            template_id=template.id,
            author_id=template.author_id,
            cloner_id=cloner_id,
            cloned_strategy_id=strategy_id,
            price_credits=template.price_credits,
        )
    )
    counted = await session.scalar(
        update(Template)
        .where(Template.id == template.id, Template.is_active)
        .values(clone_count=Template.clone_count + 1)
        .returning(Template.clone_count)
        .execution_options(synchronize_session=False)
    )
    if counted is None:
        raise TemplateNotFound(template_id)
    return Clone(
        id=clone_id,
        template_id=template.id,
        strategy_id=strategy_id,
        price_credits=template.price_credits,
        balance_after=balance_after,
    )


async def _pay(
    session: AsyncSession, cloner_id: uuid.UUID, template: Template, clone_id: uuid.UUID
) -> int:
    """Debit the price (a free template moves nothing); the cloner's balance after it."""
    if template.price_credits == 0:
        return await ledger.balance_of(session, cloner_id)
    posting = await ledger.post(
        session,
        user_id=cloner_id,
        amount=-template.price_credits,
        type=TransactionType.TEMPLATE_CLONE,
        reference_id=clone_id,
        description=f"clone of template {template.id}",
    )
    return posting.balance_after
