"""Every CHECK, UNIQUE and notable ON DELETE rule of schema.md, proved against the real database.

Each case inserts (or deletes) through plain SQL, bypassing db.ledger and the API, so only the
database stands between a bad row and the table. A refusal must name the expected constraint,
so a case cannot pass because some other rule happened to reject the row; where it is cheap, a
near-identical valid statement is shown to succeed first (inside a savepoint that is rolled
back, so it cannot collide with the refused one).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from tests.factories import add_strategy, add_user

# Ids the statements refer to as :user, :other, :strategy, :spare_strategy and :template.
World = dict[str, uuid.UUID]

# One valid row per table, as SQL expressions; a case overrides the columns it is about.
BASE_ROWS: dict[str, dict[str, str]] = {
    "users": {"email": "'someone@example.com'", "hashed_password": "'hash'"},
    "credit_transactions": {
        "user_id": ":user",
        "amount": "10",
        "balance_after": "10",
        "type": "'PURCHASE'",
    },
    "strategies": {"user_id": ":user", "name": "'s'", "definition": "'{}'"},
    "backtests": {
        "user_id": ":user",
        "strategy_id": ":strategy",
        "symbol": "'BTC/USDT'",
        "timeframe": "'1h'",
        "start_date": "timestamptz '2024-01-01'",
        "end_date": "timestamptz '2024-02-01'",
        "initial_capital": "1000",
    },
    "executions": {
        "user_id": ":user",
        "strategy_id": ":strategy",
        "symbol": "'BTC/USDT'",
        "side": "'BUY'",
        "order_type": "'MARKET'",
        "amount": "1",
    },
    "templates": {"strategy_id": ":strategy", "author_id": ":user", "name": "'t'"},
    "template_clones": {
        "template_id": ":template",
        "author_id": ":user",
        "cloner_id": ":other",
        "price_credits": "10",
    },
    "credentials": {
        "user_id": ":user",
        "type": "'LLM'",
        "provider": "'openai'",
        "encrypted_api_key": "'ciphertext'",
    },
    "ohlcv_data": {
        "symbol": "'BTC/USDT'",
        "timeframe": "'1h'",
        "timestamp": "timestamptz '2024-01-01'",
        "open": "10",
        "high": "12",
        "low": "9",
        "close": "11",
        "volume": "100",
    },
    "wallets": {"user_id": ":user", "address": "'0x' || repeat('ab', 20)"},
    "follows": {"follower_id": ":user", "following_id": ":other"},
    "staking_records": {"user_id": ":user", "amount": "1", "type": "'STAKE'"},
    "strategy_registrations": {
        "strategy_id": ":strategy",
        "author_id": ":user",
        "metadata_uri": "'ipfs://meta'",
    },
    "settlements": {
        "user_id": ":other",
        "strategy_id": ":strategy",
        "author_id": ":user",
        "day_index": "19800",
        "total_volume": "1000",
        "fee_amount": "1",
        "fee_credits": "10",
        "author_fee_credits": "3",
        "platform_fee_credits": "7",
    },
    "author_royalties": {"author_id": ":user", "year": "2024", "month": "1"},
    "day_commits": {
        "strategy_id": ":strategy",
        "day_index": "19800",
        "merkle_root": "'0x' || repeat('0', 64)",
        "leaf_count": "1",
        "total_volume": "10",
    },
    "settlement_runs": {"kind": "'DAILY'", "period": "'2024-01-01'", "status": "'RUNNING'"},
    "chain_events": {
        "chain_id": "10143",
        "block_number": "1",
        "block_hash": "'0x' || repeat('b', 64)",
        "block_timestamp": "now()",
        "tx_hash": "'0x' || repeat('1', 64)",
        "log_index": "0",
        "contract_address": "'0x' || repeat('cd', 20)",
        "event_name": "'Staked'",
        "topics": "'[]'",
        "data": "'0x'",
    },
}

REFERENCE = "'00000000-0000-0000-0000-000000000001'"
TX_HASH = "'0x' || repeat('a', 64)"
FLAT_CANDLE = "open = 9; high = 9; low = 9; close = 9"


def columns(assignments: str) -> dict[str, str]:
    """`"a = 1; b = 'x'"` as {"a": "1", "b": "'x'"}; the values are SQL expressions."""
    pairs = (item.split(" = ", 1) for item in assignments.split("; ") if item)
    return {column: value for column, value in pairs}


def insert(table: str, *assignments: str) -> str:
    """INSERT of the table's base row, overridden by each of `assignments` in turn."""
    row = dict(BASE_ROWS[table])
    for overrides in assignments:
        row.update(columns(overrides))
    return f"INSERT INTO {table} ({', '.join(row)}) VALUES ({', '.join(row.values())})"


A_TEMPLATE = insert("templates", "id = :template; strategy_id = :spare_strategy")


@dataclass(frozen=True)
class Case:
    """`setup` is kept; `accepted` must succeed (then is rolled back); `refused` must fail."""

    name: str
    refused: str
    constraint: str
    accepted: str | None = None
    setup: tuple[str, ...] = ()


def checks(table: str, *cases: tuple[str, str, str], setup: tuple[str, ...] = ()) -> list[Case]:
    """Each case: (constraint name after `ck_<table>_`, refused columns, accepted columns)."""
    return [
        Case(
            f"{table}: {bad}", insert(table, bad), f"ck_{table}_{name}", insert(table, good), setup
        )
        for name, bad, good in cases
    ]


def uniques(table: str, *cases: tuple[str, str, str, str]) -> list[Case]:
    """Each case: (name after `uq_<table>_`, stored row, accepted key change, refused extra).

    The stored row goes in first; the same key again (with the non-key `extra` columns) is
    refused, while the same row with one key column changed is accepted.
    """
    return [
        Case(
            f"uq_{table}_{name}" + (f" ({stored})" if stored else ""),
            insert(table, stored, extra),
            f"uq_{table}_{name}",
            insert(table, stored, extra, near),
            (insert(table, stored),),
        )
        for name, stored, near, extra in cases
    ]


CHECK_CASES = [
    *checks(
        "users",
        ("manual_tier_range", "manual_tier = 6", "manual_tier = 5"),
        ("manual_tier_range", "manual_tier = -1", "manual_tier = 0"),
        ("email_lower_case", "email = 'Ann@example.com'", "email = 'ann@example.com'"),
    ),
    Case(
        "credits: balance = -1",
        "UPDATE credits SET balance = -1 WHERE user_id = :user",
        "ck_credits_balance_not_negative",
        "UPDATE credits SET balance = 0 WHERE user_id = :user",
    ),
    *checks(
        "credit_transactions",
        ("amount_not_zero", "amount = 0", "amount = -1; balance_after = 0"),
        ("type", "type = 'GIFT'", "type = 'REFUND'"),
        ("balance_after_not_negative", "balance_after = -1", "balance_after = 0"),
    ),
    *checks("strategies", ("status", "status = 'LIVE'", "status = 'DEPLOYED'")),
    *checks(
        "backtests",
        (
            "end_after_start",
            "end_date = timestamptz '2024-01-01'",
            "end_date = timestamptz '2024-01-01 00:00:01'",
        ),
        ("end_after_start", "end_date = timestamptz '2023-12-31'", ""),
        ("initial_capital_positive", "initial_capital = 0", "initial_capital = 0.00000001"),
        ("initial_capital_positive", "initial_capital = -5", ""),
        ("total_return_bp_floor", "total_return_bp = -10001", "total_return_bp = -10000"),
        ("status", "status = 'DONE'", "status = 'COMPLETED'"),
    ),
    *checks(
        "executions",
        ("side", "side = 'HOLD'", "side = 'SELL'"),
        ("order_type", "order_type = 'STOP'", "order_type = 'LIMIT'; price = 100"),
        ("status", "status = 'OPEN'", "status = 'CANCELLED'"),
        ("amount_positive", "amount = 0", "amount = 0.00000001"),
        ("amount_positive", "amount = -1", ""),
        ("limit_has_price", "order_type = 'LIMIT'", "order_type = 'LIMIT'; price = 100"),
        (
            "filled_has_price_and_time",
            "status = 'FILLED'; executed_at = now()",
            "status = 'FILLED'; executed_at = now(); executed_price = 100",
        ),
        (
            "filled_has_price_and_time",
            "status = 'FILLED'; executed_price = 100",
            "status = 'FILLED'; executed_at = now(); executed_price = 100",
        ),
    ),
    *checks(
        "templates",
        ("price_credits_not_negative", "price_credits = -1", "price_credits = 0"),
        ("clone_count_not_negative", "clone_count = -1", "clone_count = 0"),
    ),
    *checks(
        "template_clones",
        ("price_credits_not_negative", "price_credits = -1", "price_credits = 0"),
        setup=(A_TEMPLATE,),
    ),
    *checks("credentials", ("type", "type = 'SSH'", "type = 'EXCHANGE'")),
    *checks(
        "ohlcv_data",
        ("prices_within_range", "low = 10.5", "low = 10"),
        ("prices_within_range", "close = 13", "close = 12"),
        ("prices_within_range", "high = 8; low = 9; open = 9; close = 9", FLAT_CANDLE),
        ("volume_not_negative", "volume = -1", "volume = 0"),
    ),
    *checks(
        "wallets",
        ("address_lower_hex", "address = '0x' || repeat('AB', 20)", ""),
        ("address_lower_hex", "address = '0x1234'", ""),
        ("address_lower_hex", "address = repeat('ab', 21)", ""),
        ("address_lower_hex", "address = '0x' || repeat('zz', 20)", ""),
    ),
    *checks("follows", ("not_self", "following_id = :user", "")),
    *checks(
        "staking_records",
        ("type", "type = 'BURN'", "type = 'UNSTAKE'"),
        ("status", "status = 'DONE'", "status = 'CONFIRMED'"),
        ("tier_range", "tier = 6", "tier = 5"),
        ("amount_not_negative", "amount = -1", "amount = 0"),
    ),
    *checks(
        "strategy_registrations",
        ("status", "status = 'ACTIVE'", "status = 'REGISTERED'"),
        ("onchain_status", "onchain_status = 'LIVE'", "onchain_status = 'ACTIVE'"),
    ),
    *checks(
        "settlements",
        (
            "fee_parts_add_up",
            "platform_fee_credits = 8",
            "platform_fee_credits = 8; fee_credits = 11",
        ),
        (
            "fee_credits_not_negative",
            "author_fee_credits = -1; platform_fee_credits = 11",
            "author_fee_credits = 0; platform_fee_credits = 10",
        ),
        ("status", "status = 'OPEN'", "status = 'FAILED'"),
        ("paid_via", "paid_via = 'CASH'", "paid_via = 'ONCHAIN'"),
        (
            "paid_has_time_and_way",
            "status = 'PAID'; paid_via = 'CREDITS'",
            "status = 'PAID'; paid_via = 'CREDITS'; paid_at = now()",
        ),
        (
            "paid_has_time_and_way",
            "status = 'PAID'; paid_at = now()",
            "status = 'PAID'; paid_at = now(); paid_via = 'ONCHAIN'",
        ),
        ("day_index_not_negative", "day_index = -1", "day_index = 0"),
        ("discount_bps_range", "discount_bps = 10001", "discount_bps = 10000"),
        ("tier_range", "author_tier = 6", "author_tier = 5"),
        ("amounts_not_negative", "total_volume = -1", "total_volume = 0"),
    ),
    *checks(
        "author_royalties",
        ("month_range", "month = 0", "month = 1"),
        ("month_range", "month = 13", "month = 12"),
        ("status", "status = 'DONE'", "status = 'CANCELLED'"),
        ("year_range", "year = 1999", "year = 2000"),
        ("royalty_rate_bps_range", "royalty_rate_bps = 10001", "royalty_rate_bps = 10000"),
        ("figures_not_negative", "total_clones = -1", "total_clones = 0"),
    ),
    *checks(
        "day_commits",
        ("leaf_count_positive", "leaf_count = 0", "leaf_count = 1"),
        ("total_volume_not_negative", "total_volume = -1", "total_volume = 0"),
    ),
    *checks(
        "settlement_runs",
        ("kind", "kind = 'WEEKLY'", "kind = 'ROYALTY'"),
        ("status", "status = 'PAUSED'", "status = 'DONE'"),
    ),
    *checks(
        "chain_events",
        ("projection_status", "projection_status = 'LOST'", "projection_status = 'RAW_ONLY'"),
        ("decoded_or_raw", "topics = NULL", "topics = NULL; data = NULL; args = '{}'"),
    ),
]

UNIQUE_CASES = [
    *uniques("users", ("email", "", "email = 'someone.else@example.com'", "")),
    Case(
        "credits: a second account for the user",
        "INSERT INTO credits (user_id) VALUES (:user)",
        "uq_credits_user_id",
    ),
    *uniques(
        "credit_transactions",
        (
            "user_id_type_reference_id",
            f"type = 'BACKTEST'; reference_id = {REFERENCE}",
            "type = 'REFUND'",
            "amount = 20; balance_after = 30",
        ),
    ),
    *uniques(
        "executions",
        ("exchange_order_id", "exchange_order_id = 'ORD-1'", "exchange_order_id = 'ORD-2'", ""),
    ),
    *uniques("templates", ("strategy_id_active", "", "is_active = false", "name = 'again'")),
    *uniques("ohlcv_data", ("symbol_timeframe_timestamp", "", "timeframe = '4h'", "volume = 5")),
    *uniques("wallets", ("address", "", "address = '0x' || repeat('ac', 20)", "user_id = :other")),
    *uniques(
        "follows",
        ("follower_id_following_id_strategy_id", "", "strategy_id = :strategy", ""),
        (
            "follower_id_following_id_strategy_id",
            "strategy_id = :strategy",
            "strategy_id = :spare_strategy",
            "",
        ),
    ),
    *uniques(
        "staking_records",
        (
            "onchain_tx_hash_log_index",
            f"onchain_tx_hash = {TX_HASH}; log_index = 0",
            "log_index = 1",
            "",
        ),
    ),
    *uniques(
        "strategy_registrations",
        ("strategy_id", "", "strategy_id = :spare_strategy", "metadata_uri = 'ipfs://other'"),
        (
            "onchain_strategy_id",
            "onchain_strategy_id = 7",
            "onchain_strategy_id = 8",
            "strategy_id = :spare_strategy",
        ),
    ),
    *uniques(
        "settlements",
        ("user_id_strategy_id_day_index", "", "day_index = 19801", "status = 'FAILED'"),
        (
            "onchain_settlement_id",
            "onchain_settlement_id = 42",
            "onchain_settlement_id = 43",
            "day_index = 19801",
        ),
    ),
    *uniques("author_royalties", ("author_id_year_month", "", "month = 2", "total_clones = 3")),
    *uniques("day_commits", ("strategy_id_day_index", "", "day_index = 19801", "leaf_count = 2")),
    *uniques("settlement_runs", ("kind_period", "", "kind = 'ROYALTY'", "status = 'DONE'")),
    *uniques(
        "chain_events", ("chain_id_tx_hash_log_index", "", "log_index = 1", "block_number = 2")
    ),
]

DELETE_CASES = [
    Case(
        "strategy with executions",
        "DELETE FROM strategies WHERE id = :strategy",
        "fk_executions_strategy_id_strategies",
        accepted="DELETE FROM strategies WHERE id = :spare_strategy",
        setup=(insert("executions"),),
    ),
    Case(
        "strategy with settlements",
        "DELETE FROM strategies WHERE id = :strategy",
        "fk_settlements_strategy_id_strategies",
        accepted="DELETE FROM strategies WHERE id = :spare_strategy",
        setup=(insert("settlements"),),
    ),
    Case(
        "strategy behind a template",
        "DELETE FROM strategies WHERE id = :spare_strategy",
        "fk_templates_strategy_id_strategies",
        accepted="DELETE FROM strategies WHERE id = :strategy",
        setup=(A_TEMPLATE,),
    ),
    Case(
        "template with clones",
        "DELETE FROM templates WHERE id = :template",
        "fk_template_clones_template_id_templates",
        setup=(A_TEMPLATE, insert("template_clones")),
    ),
    Case(
        "user with ledger postings",
        "DELETE FROM users WHERE id = :other",
        "fk_credit_transactions_user_id_users",
        accepted="DELETE FROM users WHERE id = :user",
        setup=(insert("credit_transactions", "user_id = :other"),),
    ),
]

# The ledger is append-only: once written, a posting is neither changed nor taken back (else
# credits.balance = Σ amount and the running balance_after would silently stop holding).
A_POSTING = insert("credit_transactions")
LEDGER_CHANGE_CASES = [
    Case(
        "a posting's amount changed",
        "UPDATE credit_transactions SET amount = 11, balance_after = 11",
        "credit_transactions_append_only",
        accepted=insert("credit_transactions", "amount = 1; balance_after = 11"),
        setup=(A_POSTING,),
    ),
    Case(
        "a posting's description changed",
        "UPDATE credit_transactions SET description = 'rewritten'",
        "credit_transactions_append_only",
        setup=(A_POSTING,),
    ),
    Case(
        "a posting deleted",
        "DELETE FROM credit_transactions",
        "credit_transactions_append_only",
        setup=(A_POSTING,),
    ),
]


@pytest.fixture
async def world(session: AsyncSession) -> World:
    user = await add_user(session)
    other = await add_user(session)
    return {
        "user": user,
        "other": other,
        "strategy": await add_strategy(session, user),
        "spare_strategy": await add_strategy(session, user),
        "template": uuid.uuid4(),  # inserted by the cases that need it (A_TEMPLATE)
    }


async def run(session: AsyncSession, world: World, case: Case) -> None:
    for statement in case.setup:
        await session.execute(text(statement), world)
    if case.accepted is not None:
        savepoint = await session.begin_nested()
        await session.execute(text(case.accepted), world)
        await savepoint.rollback()
    with pytest.raises(IntegrityError) as refused:
        async with session.begin_nested():
            await session.execute(text(case.refused), world)
    assert f'"{case.constraint}"' in str(refused.value.orig)


async def count(session: AsyncSession, sql: str, world: World) -> int:
    return int((await session.execute(text(sql), world)).scalar_one())


@pytest.mark.parametrize("case", CHECK_CASES, ids=lambda case: case.name)
async def test_a_row_breaking_a_check_constraint_is_refused(
    session: AsyncSession, world: World, case: Case
) -> None:
    await run(session, world, case)


@pytest.mark.parametrize("case", UNIQUE_CASES, ids=lambda case: case.name)
async def test_a_duplicate_of_a_unique_key_is_refused(
    session: AsyncSession, world: World, case: Case
) -> None:
    await run(session, world, case)


@pytest.mark.parametrize("case", DELETE_CASES, ids=lambda case: case.name)
async def test_deleting_a_row_that_history_refers_to_is_refused(
    session: AsyncSession, world: World, case: Case
) -> None:
    await run(session, world, case)


@pytest.mark.parametrize("case", LEDGER_CHANGE_CASES, ids=lambda case: case.name)
async def test_a_ledger_posting_once_written_can_be_neither_changed_nor_deleted(
    session: AsyncSession, world: World, case: Case
) -> None:
    await run(session, world, case)


async def test_every_new_user_gets_exactly_one_empty_credit_account(
    session: AsyncSession, world: World
) -> None:
    rows = (
        await session.execute(text("SELECT balance FROM credits WHERE user_id = :user"), world)
    ).all()
    assert [row.balance for row in rows] == [0]


async def test_postings_without_a_reference_may_repeat(session: AsyncSession, world: World) -> None:
    for _ in range(2):
        await session.execute(text(insert("credit_transactions")), world)
    sql = "SELECT count(*) FROM credit_transactions WHERE user_id = :user"
    assert await count(session, sql, world) == 2


CASCADED = ("wallets", "credentials", "credits")


async def test_deleting_a_user_deletes_their_wallets_credentials_and_credit_account(
    session: AsyncSession, world: World
) -> None:
    await session.execute(text(insert("wallets", "user_id = :other")), world)
    await session.execute(text(insert("credentials", "user_id = :other")), world)

    owned = [f"SELECT count(*) FROM {table} WHERE user_id = :other" for table in CASCADED]
    assert [await count(session, sql, world) for sql in owned] == [1, 1, 1]

    await session.execute(text("DELETE FROM users WHERE id = :other"), world)

    assert [await count(session, sql, world) for sql in owned] == [0, 0, 0]


async def test_deleting_a_cloned_strategy_keeps_the_clone_record_without_it(
    session: AsyncSession, world: World
) -> None:
    # The template sells :spare_strategy; the clone it produced is :strategy.
    await session.execute(text(A_TEMPLATE), world)
    await session.execute(text(insert("template_clones", "cloned_strategy_id = :strategy")), world)

    await session.execute(text("DELETE FROM strategies WHERE id = :strategy"), world)

    rows = (
        await session.execute(text("SELECT cloned_strategy_id, price_credits FROM template_clones"))
    ).all()
    assert [tuple(row) for row in rows] == [(None, 10)]
