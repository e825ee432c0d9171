"""Hypothesis interleaves postings on several connections; the ledger invariant always holds."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from sqlalchemy.pool import NullPool

from db import ledger
from db.engine import create_session_factory
from db.enums import TransactionType
from tests.factories import add_user

CONNECTIONS = 3
USERS = 3
TYPES = (TransactionType.PURCHASE, TransactionType.BACKTEST, TransactionType.REFUND)


@dataclass
class OpenTransaction:
    session: AsyncSession
    locked: set[int] = field(default_factory=set)
    deltas: dict[int, int] = field(default_factory=dict)
    references: set[tuple[int, str, uuid.UUID]] = field(default_factory=set)


class LedgerMachine(RuleBasedStateMachine):
    """Model: committed balances and references; each connection's uncommitted postings."""

    database_url: str = ""

    def __init__(self) -> None:
        super().__init__()
        self.runner = asyncio.Runner()
        self.engine = self.runner.run(self._engine())
        self.sessions = create_session_factory(self.engine)
        self.user_ids: list[uuid.UUID] = []
        self.balances: list[int] = []
        self.references: set[tuple[int, str, uuid.UUID]] = set()
        self.transactions: list[OpenTransaction | None] = [None] * CONNECTIONS

    async def _engine(self) -> Any:
        return create_async_engine(self.database_url, poolclass=NullPool)

    def _run(self, coroutine: Any) -> Any:
        return self.runner.run(coroutine)

    @initialize(starting=st.lists(st.integers(0, 500), min_size=USERS, max_size=USERS))
    def create_users(self, starting: list[int]) -> None:
        async def create() -> list[uuid.UUID]:
            async with self.sessions() as session:
                ids = [await add_user(session, credits=amount) for amount in starting]
                await session.commit()
                return ids

        self.user_ids = self._run(create())
        self.balances = list(starting)

    def _free_for(self, connection: int, user: int) -> bool:
        return all(
            other is None or user not in other.locked
            for index, other in enumerate(self.transactions)
            if index != connection
        )

    @rule(
        connection=st.integers(0, CONNECTIONS - 1),
        user=st.integers(0, USERS - 1),
        amount=st.integers(-300, 300).filter(bool),
        type_=st.sampled_from(TYPES),
        reuse=st.booleans(),
    )
    def post(
        self, connection: int, user: int, amount: int, type_: TransactionType, reuse: bool
    ) -> None:
        # Another open transaction holding this user's row lock would block us forever here.
        if not self._free_for(connection, user):
            return
        transaction = self.transactions[connection]
        if transaction is None:
            transaction = self.transactions[connection] = OpenTransaction(self.sessions())
        known = sorted(
            ref
            for (u, t, ref) in self.references | transaction.references
            if u == user and t == type_
        )
        reference = known[0] if reuse and known else uuid.uuid4()
        key = (user, type_.value, reference)
        pending = transaction.deltas.get(user, 0)
        if key in self.references or key in transaction.references:
            expected = "AlreadyPosted"
        elif self.balances[user] + pending + amount < 0:
            expected = "InsufficientCredits"
        else:
            expected = "posted"

        async def attempt() -> str:
            try:
                await ledger.post(
                    transaction.session,
                    user_id=self.user_ids[user],
                    amount=amount,
                    type=type_,
                    reference_id=reference,
                )
            except ledger.LedgerError as refused:
                return type(refused).__name__
            return "posted"

        outcome = self._run(attempt())
        transaction.locked.add(user)
        assert outcome == expected
        if outcome == "posted":
            transaction.deltas[user] = pending + amount
            transaction.references.add(key)

    @precondition(lambda self: any(self.transactions))
    @rule(connection=st.integers(0, CONNECTIONS - 1))
    def commit(self, connection: int) -> None:
        transaction = self.transactions[connection]
        if transaction is None:
            return
        self._run(transaction.session.commit())
        self._run(transaction.session.close())
        for user, delta in transaction.deltas.items():
            self.balances[user] += delta
        self.references |= transaction.references
        self.transactions[connection] = None

    @precondition(lambda self: any(self.transactions))
    @rule(connection=st.integers(0, CONNECTIONS - 1))
    def rollback(self, connection: int) -> None:
        transaction = self.transactions[connection]
        if transaction is None:
            return
        self._run(transaction.session.rollback())
        self._run(transaction.session.close())
        self.transactions[connection] = None

    @invariant()
    def committed_state_matches_the_model_and_the_invariant(self) -> None:
        if not self.user_ids:
            return

        async def read() -> tuple[list[int], list[uuid.UUID]]:
            async with self.sessions() as session:
                balances = [await ledger.balance_of(session, uid) for uid in self.user_ids]
                return balances, await ledger.invariant_violations(session)

        balances, violations = self._run(read())
        assert violations == []
        assert balances == self.balances

    def teardown(self) -> None:
        for transaction in self.transactions:
            if transaction is not None:
                self._run(transaction.session.close())
        self._run(self.engine.dispose())
        self.runner.close()


async def test_interleaved_postings_keep_balance_equal_to_the_sum_of_transactions(
    database_url: str,
) -> None:
    machine = type("BoundLedgerMachine", (LedgerMachine,), {"database_url": database_url})
    await asyncio.to_thread(
        run_state_machine_as_test,
        machine,
        settings=settings(
            max_examples=25,
            stateful_step_count=30,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
