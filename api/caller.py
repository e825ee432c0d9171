"""The caller's row check (active, administrator), and on read-only routes the way it rides on
the handler's page query instead of costing a query of its own.

A signed-in caller's token is checked against Redis before the handler runs; their row (still
active?) is PostgreSQL's. On a read-only route the handler cannot change anything, so that check
may come after it, as long as it comes before anything is answered: the request's session then
holds a pending CallerCheck, `api.pagination.paginate` reads the caller's row in the same
statement as the page (one round trip fewer: ~100 us of the API's CPU and ~50 us of
PostgreSQL's per list read), and the dispatcher confirms the caller on every way out of the
handler (a query of its own only when no page carried it). An inactive caller gets the same
401 either way, also when the handler failed first.
"""

from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from api.problems import unauthenticated
from db.models import User
from db.statements import BoundSelect, fetch_rows

CALLER_PARAM = "caller_user_id"
CALLER_IS_ACTIVE_COLUMN = "caller_is_active"
_PENDING = "api.caller.pending"


@dataclass(frozen=True, slots=True)
class CallerRow:
    is_active: bool
    is_superuser: bool


@dataclass(slots=True)
class CallerCheck:
    """A signed-in caller whose row is still to be checked before the request is answered."""

    user_id: uuid.UUID
    confirmed: bool = False

    def settle(self, is_active: bool | None) -> None:
        """The caller's `is_active` as a statement of this request read it (None: no such
        user); 401 unless active."""
        if not is_active:
            raise unauthenticated("the account is not active")
        self.confirmed = True


async def caller_row(session: AsyncSession, user_id: uuid.UUID) -> CallerRow | None:
    """The caller's row, None when there is no such user. A statement built once, run without
    the ORM (db/statements.py): session.get costs several times as much, on every request."""
    rows = await fetch_rows(session, BoundSelect(_caller_statement(), {CALLER_PARAM: user_id}))
    if not rows:
        return None
    return CallerRow(is_active=rows[0].is_active, is_superuser=rows[0].is_superuser)


async def active_caller(session: AsyncSession, user_id: uuid.UUID) -> CallerRow:
    """The caller's row; 401 unless they exist and are active."""
    found = await caller_row(session, user_id)
    if found is None or not found.is_active:
        raise unauthenticated("the account is not active")
    return found


def defer(session: AsyncSession, user_id: uuid.UUID) -> None:
    """Check the caller later in this request (see the module's docstring)."""
    session.info[_PENDING] = CallerCheck(user_id)


def pending(session: AsyncSession) -> CallerCheck | None:
    """The caller check a statement of `session` may carry: None when there is none left."""
    check: CallerCheck | None = session.info.get(_PENDING)
    return None if check is None or check.confirmed else check


async def confirm(session: AsyncSession) -> None:
    """Settle the pending check of `session`, with a query of its own when no statement has
    carried it; 401 unless the caller is active."""
    check = pending(session)
    if check is not None:
        await active_caller(session, check.user_id)
        check.confirmed = True


@functools.cache
def is_active_column() -> ColumnElement[Any]:
    """The caller's `is_active` as one more column of a statement (a subquery PostgreSQL runs
    once per statement; NULL when there is no such user), bound by CALLER_PARAM."""
    return (
        select(User.is_active)
        .where(User.id == bindparam(CALLER_PARAM, type_=User.id.type))
        .scalar_subquery()
        .label(CALLER_IS_ACTIVE_COLUMN)
    )


@functools.cache
def _caller_statement() -> Select[bool, bool]:
    return select(User.is_active, User.is_superuser).where(
        User.id == bindparam(CALLER_PARAM, type_=User.id.type)
    )
