"""The credit ledger: the only way any part of gr8d moves credits.

Everything runs inside the caller's transaction. `open_batch()` locks the users' `credits`
rows first, so postings for one user are serialized across connections and replicas; with the
lock held a batch refuses a repeated (user, type, reference) and any posting that would make a
balance negative, then appends the ledger rows and moves the balances in one statement.
`post()` is a batch of one. A large set of postings that PostgreSQL can select itself (the daily
settlement's fees) goes through `lock_selected_accounts()` and `post_selected()` instead, so the
rows never travel through Python. The partial UNIQUE index and the `balance >= 0` CHECKs stay
behind it all as the database's final guard.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import TextClause, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from db.enums import TransactionType
from db.models import Credit
from gr8d.errors import DomainError, ErrorKind

REFERENCE_UNIQUE_INDEX = "uq_credit_transactions_user_id_type_reference_id"

# Appends the postings in the order given (so `seq` follows it) and sets each moved account to
# its final balance, in one statement.
_RECORD_AND_MOVE = text(
    """
    WITH posted AS (
        INSERT INTO credit_transactions
            (id, user_id, amount, balance_after, type, reference_id, description)
        SELECT id, user_id, amount, balance_after, type, reference_id, description
        FROM unnest(
            CAST(:ids AS uuid[]), CAST(:user_ids AS uuid[]), CAST(:amounts AS bigint[]),
            CAST(:balances_after AS bigint[]), CAST(:types AS varchar[]),
            CAST(:reference_ids AS uuid[]), CAST(:descriptions AS text[])
        ) WITH ORDINALITY
            AS p(id, user_id, amount, balance_after, type, reference_id, description, n)
        ORDER BY n
        RETURNING 1
    )
    UPDATE credits AS c SET balance = a.balance
    FROM unnest(CAST(:account_ids AS uuid[]), CAST(:account_balances AS bigint[]))
        AS a(user_id, balance)
    WHERE c.user_id = a.user_id AND (SELECT count(*) FROM posted) >= 0
    """
)

# One array parameter however many accounts (asyncpg allows 32,767 parameters).
_LOCK_ACCOUNTS = text(
    """
    SELECT user_id, balance FROM credits
    WHERE user_id = ANY(CAST(:user_ids AS uuid[]))
    ORDER BY user_id
    FOR UPDATE
    """
)

_POSTED_REFERENCES = text(
    """
    SELECT t.user_id, t.type, t.reference_id
    FROM credit_transactions AS t
    JOIN unnest(
        CAST(:user_ids AS uuid[]), CAST(:types AS varchar[]), CAST(:reference_ids AS uuid[])
    ) AS k(user_id, type, reference_id)
        ON t.user_id = k.user_id AND t.type = k.type AND t.reference_id = k.reference_id
    LIMIT 1
    """
)


class LedgerError(DomainError):
    """A posting the ledger refused; nothing was moved."""

    kind = ErrorKind.CONFLICT
    code = "LEDGER_REFUSED"


class NoCreditAccount(LedgerError):
    kind = ErrorKind.NOT_FOUND
    code = "NO_CREDIT_ACCOUNT"

    def __init__(self, user_id: uuid.UUID) -> None:
        super().__init__(f"user {user_id} has no credit account")
        self.user_id = user_id


class InsufficientCredits(LedgerError):
    kind = ErrorKind.PAYMENT_REQUIRED
    code = "INSUFFICIENT_CREDITS"

    def __init__(self, user_id: uuid.UUID, balance: int, amount: int) -> None:
        super().__init__(f"user {user_id} has {balance} credits; posting {amount} would go below 0")
        self.user_id = user_id
        self.balance = balance
        self.amount = amount


class AlreadyPosted(LedgerError):
    code = "ALREADY_POSTED"

    def __init__(self, user_id: uuid.UUID, type_: TransactionType, reference_id: uuid.UUID) -> None:
        super().__init__(f"{type_} {reference_id} is already posted for user {user_id}")
        self.user_id = user_id
        self.type = type_
        self.reference_id = reference_id


@dataclass(frozen=True, slots=True)
class Posting:
    id: uuid.UUID
    user_id: uuid.UUID
    amount: int
    balance_after: int
    type: TransactionType
    reference_id: uuid.UUID | None


async def post(
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    amount: int,
    type: TransactionType,
    reference_id: uuid.UUID | None = None,
    description: str | None = None,
) -> Posting:
    """Move `amount` credits (signed, never 0) for `user_id`; raises a LedgerError on refusal."""
    references = [] if reference_id is None else [(user_id, type, reference_id)]
    batch = await open_batch(session, [user_id], checked_references=references)
    posting = batch.add(
        user_id=user_id,
        amount=amount,
        type=type,
        reference_id=reference_id,
        description=description,
    )
    await batch.flush()
    return posting


ReferenceKey = tuple[uuid.UUID, TransactionType, uuid.UUID]


async def open_batch(
    session: AsyncSession,
    user_ids: Iterable[uuid.UUID],
    *,
    checked_references: Sequence[ReferenceKey] = (),
) -> LedgerBatch:
    """Lock the accounts of `user_ids` (in id order, so batches never deadlock) for postings.

    `checked_references` are refused now, with the locks held, rather than at `flush()`: a
    repeated posting is reported as AlreadyPosted whatever the balance.
    """
    wanted = sorted(set(user_ids))
    rows = await session.execute(_LOCK_ACCOUNTS, {"user_ids": wanted})
    balances = {row.user_id: row.balance for row in rows}
    for user_id in wanted:
        if user_id not in balances:
            raise NoCreditAccount(user_id)
    await _refuse_posted(session, checked_references)
    return LedgerBatch(session, balances, checked_references)


class LedgerBatch:
    """Postings for accounts locked by `open_batch`, checked as they are added and written by
    `flush()` in one statement. Many postings cost one round trip, not one each."""

    def __init__(
        self,
        session: AsyncSession,
        balances: dict[uuid.UUID, int],
        checked_references: Sequence[ReferenceKey] = (),
    ) -> None:
        self._session = session
        self._balances = balances
        self._pending: list[tuple[Posting, str | None]] = []
        self._references: set[ReferenceKey] = set()
        self._checked: set[ReferenceKey] = set(checked_references)

    def balance(self, user_id: uuid.UUID) -> int:
        """The balance including the postings added so far."""
        return self._balances[self._locked(user_id)]

    def add(
        self,
        *,
        user_id: uuid.UUID,
        amount: int,
        type: TransactionType,
        reference_id: uuid.UUID | None = None,
        description: str | None = None,
    ) -> Posting:
        if amount == 0:
            raise ValueError("a posting moves a non-zero amount")
        balance = self.balance(user_id)
        if reference_id is not None:
            key = (user_id, type, reference_id)
            if key in self._references:
                raise AlreadyPosted(user_id, type, reference_id)
        if balance + amount < 0:
            raise InsufficientCredits(user_id, balance, amount)
        posting = Posting(
            id=uuid.uuid4(),
            user_id=user_id,
            amount=amount,
            balance_after=balance + amount,
            type=type,
            reference_id=reference_id,
        )
        if reference_id is not None:
            self._references.add(key)
        self._balances[user_id] = posting.balance_after
        self._pending.append((posting, description))
        return posting

    async def flush(self) -> None:
        """Write the added postings; AlreadyPosted if any reference was posted before."""
        if not self._pending:
            return
        await _refuse_posted(
            self._session,
            [key for key in self._references if key not in self._checked],
        )
        postings = [posting for posting, _ in self._pending]
        moved = {posting.user_id for posting in postings}
        try:
            await self._session.execute(
                _RECORD_AND_MOVE,
                {
                    "ids": [p.id for p in postings],
                    "user_ids": [p.user_id for p in postings],
                    "amounts": [p.amount for p in postings],
                    "balances_after": [p.balance_after for p in postings],
                    "types": [p.type.value for p in postings],
                    "reference_ids": [p.reference_id for p in postings],
                    "descriptions": [description for _, description in self._pending],
                    "account_ids": sorted(moved),
                    "account_balances": [self._balances[uid] for uid in sorted(moved)],
                },
            )
        except IntegrityError as exc:
            # Unreachable while every posting holds the row lock; if a writer ever bypasses
            # it, the database still refuses the duplicate and we say so plainly.
            if REFERENCE_UNIQUE_INDEX in str(exc.orig):
                first = next(p for p in postings if p.reference_id is not None)
                raise AlreadyPosted(first.user_id, first.type, first.reference_id) from exc  # type: ignore[arg-type]
            raise
        self._pending.clear()

    def _locked(self, user_id: uuid.UUID) -> uuid.UUID:
        if user_id not in self._balances:
            raise ValueError(f"account {user_id} was not locked by this batch")
        return user_id


async def _refuse_posted(session: AsyncSession, keys: Sequence[ReferenceKey]) -> None:
    if not keys:
        return
    found = (
        await session.execute(
            _POSTED_REFERENCES,
            {
                "user_ids": [user_id for user_id, _, _ in keys],
                "types": [type_.value for _, type_, _ in keys],
                "reference_ids": [reference_id for _, _, reference_id in keys],
            },
        )
    ).first()
    if found is not None:
        raise AlreadyPosted(found.user_id, TransactionType(found.type), found.reference_id)


# --- postings selected by PostgreSQL --------------------------------------------------------


def _lock_selected_statement(users: str) -> TextClause:
    """Locks the accounts of the users `users` selects, one by one in id order (the order of
    open_batch, so the two never deadlock); a user without an account comes out with a NULL
    balance."""
    return text(
        f"""
        SELECT w.user_id, c.balance
        FROM (SELECT DISTINCT user_id FROM ({users}) AS u(user_id) ORDER BY user_id) AS w
        LEFT JOIN LATERAL (
            SELECT balance FROM credits WHERE credits.user_id = w.user_id FOR UPDATE
        ) AS c ON true
        """
    )


async def lock_selected_accounts(
    session: AsyncSession, users: str, parameters: Mapping[str, Any] | None = None
) -> dict[uuid.UUID, int]:
    """Lock the accounts of the users a query selects and return their balances, like
    `open_batch` without sending the ids: `users` is SQL selecting one column of user ids
    (duplicates are fine), with `parameters` bound. NoCreditAccount when one has no account."""
    rows = await session.execute(_lock_selected_statement(users), dict(parameters or {}))
    balances: dict[uuid.UUID, int] = {}
    for user_id, balance in rows:
        if balance is None:
            raise NoCreditAccount(user_id)
        balances[user_id] = balance
    return balances


def _post_selected_statement(postings: str) -> TextClause:
    """Appends the postings `postings` selects in the order of its column `n` (so `seq` follows
    it), each with its account's running balance, and moves every account to its final
    balance; the accounts are locked first in id order (already held when the caller locked
    them). When a posting would be refused, nothing is written and the first such one comes
    back: its user, the balance before it (NULL: no account) and its amount."""
    return text(
        f"""
        WITH selected AS MATERIALIZED (
            SELECT row_number() OVER (ORDER BY q.n) AS k, CAST(q.id AS uuid) AS id, q.user_id,
                   CAST(q.amount AS bigint) AS amount, CAST(q.type AS varchar) AS type,
                   CAST(q.reference_id AS uuid) AS reference_id,
                   CAST(q.description AS text) AS description
            FROM ({postings}) AS q
        ),
        accounts AS MATERIALIZED (
            SELECT user_id, balance FROM credits
            WHERE user_id IN (SELECT user_id FROM selected)
            ORDER BY user_id
            FOR UPDATE
        ),
        running AS MATERIALIZED (
            SELECT s.*, a.balance + s.moved AS balance_after
            FROM (
                SELECT selected.*, CAST(sum(amount) OVER (
                           PARTITION BY user_id ORDER BY k ROWS UNBOUNDED PRECEDING
                       ) AS bigint) AS moved
                FROM selected
            ) AS s
            LEFT JOIN accounts AS a ON a.user_id = s.user_id
        ),
        refused AS MATERIALIZED (
            SELECT k, user_id, balance_after - amount AS balance, amount
            FROM running
            WHERE balance_after IS NULL OR balance_after < 0 OR amount = 0
            ORDER BY k
            LIMIT 1
        ),
        posted AS (
            INSERT INTO credit_transactions
                (id, user_id, amount, balance_after, type, reference_id, description)
            SELECT id, user_id, amount, balance_after, type, reference_id, description
            FROM running
            WHERE NOT EXISTS (SELECT FROM refused)
            ORDER BY k
            RETURNING user_id, amount
        ),
        moved AS (
            UPDATE credits AS c SET balance = c.balance + m.amount
            FROM (SELECT user_id, sum(amount) AS amount FROM posted GROUP BY user_id) AS m
            WHERE c.user_id = m.user_id
            RETURNING 1
        )
        SELECT (SELECT count(*) FROM posted) AS postings, r.k, r.user_id, r.balance, r.amount
        FROM (SELECT) AS one
        LEFT JOIN refused AS r ON true
        """
    )


_UNIQUE_REFERENCE_DETAIL = re.compile(
    r"\(user_id, type, reference_id\)=\(([0-9a-f-]{36}), ([A-Z_]+), ([0-9a-f-]{36})\)"
)


async def post_selected(
    session: AsyncSession, postings: str, parameters: Mapping[str, Any] | None = None
) -> int:
    """Append the postings a query selects, in one statement; returns how many were posted.

    `postings` is SQL selecting the columns n (the posting order), id, user_id, amount, type,
    reference_id and description, with `parameters` bound. The same rules as a batch: all or
    nothing, InsufficientCredits when a balance would go below 0 at any posting,
    NoCreditAccount, ValueError for a zero amount, AlreadyPosted for a repeated reference.
    The balances move in PostgreSQL only, so an open LedgerBatch of these accounts is stale.
    """
    try:
        result = await session.execute(_post_selected_statement(postings), dict(parameters or {}))
    except IntegrityError as exc:
        # The driver's error (asyncpg's, behind SQLAlchemy's) names the repeated key.
        detail = str(getattr(getattr(exc.orig, "__cause__", None), "detail", None) or "")
        repeated = _UNIQUE_REFERENCE_DETAIL.search(detail)
        if REFERENCE_UNIQUE_INDEX in str(exc.orig) and repeated is not None:
            user_id, type_, reference_id = repeated.groups()
            raise AlreadyPosted(
                uuid.UUID(user_id), TransactionType(type_), uuid.UUID(reference_id)
            ) from exc
        raise
    posted, refused_at, user_id, balance, amount = result.one()
    if refused_at is None:
        return int(posted)
    if user_id is None or amount is None or amount == 0:
        raise ValueError("a posting names a user and moves a non-zero amount")
    if balance is None:
        raise NoCreditAccount(user_id)
    raise InsufficientCredits(user_id, balance, amount)


async def balance_of(session: AsyncSession, user_id: uuid.UUID) -> int:
    balance = await session.scalar(select(Credit.balance).where(Credit.user_id == user_id))
    if balance is None:
        raise NoCreditAccount(user_id)
    return balance


# Users whose balance is not the sum of their postings, or one of whose rows has a
# balance_after that is not the running sum (in posting order) up to and including it.
_VIOLATIONS = text(
    """
    SELECT c.user_id
    FROM credits AS c
    LEFT JOIN (
        SELECT user_id, sum(amount) AS total FROM credit_transactions GROUP BY user_id
    ) AS t ON t.user_id = c.user_id
    WHERE c.balance <> coalesce(t.total, 0)
    UNION
    SELECT user_id
    FROM (
        SELECT user_id, balance_after,
               sum(amount) OVER (PARTITION BY user_id ORDER BY seq) AS running
        FROM credit_transactions
    ) AS r
    WHERE r.balance_after <> r.running
    """
)


async def invariant_violations(session: AsyncSession) -> list[uuid.UUID]:
    """Users for whom the ledger invariant of schema.md does not hold (empty when it holds)."""
    return list((await session.execute(_VIOLATIONS)).scalars())
