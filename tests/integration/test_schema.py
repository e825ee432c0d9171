"""The schema PostgreSQL holds after `alembic upgrade head`, checked table by table against
schema.md (transcribed below): column types and nullability, foreign keys and their ON DELETE,
indexes, and the shared rules (UUID keys from gen_random_uuid(), timestamps default now())."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

UUID, TS, BIGINT, INT, BOOL, TEXT, JSONB = (
    "uuid",
    "timestamp with time zone",
    "bigint",
    "integer",
    "boolean",
    "text",
    "jsonb",
)


def vc(length: int) -> str:
    return f"character varying({length})"


def num(precision: int, scale: int) -> str:
    return f"numeric({precision},{scale})"


def null(type_: str) -> str:
    return f"{type_} NULL"


# Column -> type, "NULL" when the column may be empty. The 16 tables of schema.md.
SPEC_COLUMNS: dict[str, dict[str, str]] = {
    "users": {
        "id": UUID,
        "email": vc(255),
        "hashed_password": vc(255),
        "full_name": null(vc(100)),
        "manual_tier": null(INT),
        "is_active": BOOL,
        "is_superuser": BOOL,
        "created_at": TS,
        "updated_at": TS,
    },
    "credits": {
        "id": UUID,
        "user_id": UUID,
        "balance": BIGINT,
        "created_at": TS,
        "updated_at": TS,
    },
    "credit_transactions": {
        "id": UUID,
        "seq": BIGINT,
        "user_id": UUID,
        "amount": BIGINT,
        "balance_after": BIGINT,
        "type": vc(50),
        "reference_id": null(UUID),
        "description": null(TEXT),
        "created_at": TS,
    },
    "strategies": {
        "id": UUID,
        "user_id": UUID,
        "name": vc(255),
        "description": null(TEXT),
        "definition": JSONB,
        "status": vc(20),
        "is_public": BOOL,
        "created_at": TS,
        "updated_at": TS,
    },
    "backtests": {
        "id": UUID,
        "user_id": UUID,
        "strategy_id": UUID,
        "symbol": vc(20),
        "timeframe": vc(10),
        "start_date": TS,
        "end_date": TS,
        "initial_capital": num(20, 8),
        "final_capital": null(num(20, 8)),
        "total_return_bp": null(INT),
        "mdd_bp": null(INT),
        "win_rate_bp": null(INT),
        "sharpe_ratio": null(num(10, 4)),
        "trade_count": null(INT),
        "status": vc(20),
        "error_message": null(TEXT),
        "created_at": TS,
        "completed_at": null(TS),
    },
    "executions": {
        "id": UUID,
        "user_id": UUID,
        "strategy_id": UUID,
        "symbol": vc(20),
        "side": vc(4),
        "order_type": vc(10),
        "amount": num(20, 8),
        "price": null(num(20, 8)),
        "executed_price": null(num(20, 8)),
        "status": vc(20),
        "exchange_order_id": null(vc(100)),
        "fee": null(num(20, 8)),
        "error_message": null(TEXT),
        "created_at": TS,
        "executed_at": null(TS),
    },
    "templates": {
        "id": UUID,
        "strategy_id": UUID,
        "author_id": UUID,
        "name": vc(255),
        "description": null(TEXT),
        "price_credits": BIGINT,
        "clone_count": INT,
        "is_active": BOOL,
        "created_at": TS,
        "updated_at": TS,
    },
    "template_clones": {
        "id": UUID,
        "template_id": UUID,
        "author_id": UUID,
        "cloner_id": UUID,
        "cloned_strategy_id": null(UUID),
        "price_credits": BIGINT,
        "created_at": TS,
    },
    "credentials": {
        "id": UUID,
        "user_id": UUID,
        "type": vc(20),
        "provider": vc(50),
        "encrypted_api_key": TEXT,
        "encrypted_api_secret": null(TEXT),
        "nickname": null(vc(100)),
        "is_active": BOOL,
        "created_at": TS,
        "updated_at": TS,
    },
    "ohlcv_data": {
        "id": BIGINT,
        "symbol": vc(20),
        "timeframe": vc(10),
        "timestamp": TS,
        "open": num(20, 8),
        "high": num(20, 8),
        "low": num(20, 8),
        "close": num(20, 8),
        "volume": num(30, 8),
    },
    "wallets": {
        "id": UUID,
        "user_id": UUID,
        "address": vc(42),
        "is_verified": BOOL,
        "verification_signature": null(TEXT),
        "created_at": TS,
        "updated_at": TS,
    },
    "follows": {
        "id": UUID,
        "follower_id": UUID,
        "following_id": UUID,
        "strategy_id": null(UUID),
        "is_active": BOOL,
        "onchain_tx_hash": null(vc(66)),
        "created_at": TS,
        "updated_at": TS,
    },
    "staking_records": {
        "id": UUID,
        "user_id": UUID,
        "amount": num(30, 18),
        "tier": INT,
        "type": vc(10),
        "onchain_tx_hash": null(vc(66)),
        "status": vc(20),
        "created_at": TS,
        "confirmed_at": null(TS),
        "wallet_address": null(vc(42)),
        "block_number": null(BIGINT),
        "log_index": null(INT),
    },
    "strategy_registrations": {
        "id": UUID,
        "strategy_id": UUID,
        "author_id": UUID,
        "onchain_strategy_id": null(BIGINT),
        "merkle_root": null(vc(66)),
        "onchain_tx_hash": null(vc(66)),
        "status": vc(20),
        "created_at": TS,
        "registered_at": null(TS),
        "metadata_uri": TEXT,
        "onchain_status": null(vc(30)),
    },
    "settlements": {
        "id": UUID,
        "user_id": UUID,
        "strategy_id": UUID,
        "author_id": UUID,
        "day_index": BIGINT,
        "total_volume": num(30, 8),
        "fee_amount": num(30, 8),
        "fee_credits": BIGINT,
        "user_tier": INT,
        "author_tier": INT,
        "discount_bps": INT,
        "author_fee_credits": BIGINT,
        "platform_fee_credits": BIGINT,
        "status": vc(20),
        "created_at": TS,
        "paid_at": null(TS),
        "onchain_settlement_id": null(num(78, 0)),
        "paid_tx_hash": null(vc(66)),
        "paid_via": null(vc(10)),
    },
    "author_royalties": {
        "id": UUID,
        "author_id": UUID,
        "year": INT,
        "month": INT,
        "total_clones": INT,
        "total_revenue_credits": BIGINT,
        "royalty_rate_bps": INT,
        "royalty_amount_credits": BIGINT,
        "status": vc(20),
        "paid_at": null(TS),
        "created_at": TS,
        "updated_at": TS,
    },
}

INTERNAL_TABLES = {
    "chain_blocks",
    "chain_events",
    "indexer_cursors",
    "indexer_reorgs",
    "staking_checkpoints",
    "day_commits",
    "settlement_runs",
    "idempotency_keys",
}

# (table, column) -> (referenced table, ON DELETE). RESTRICT wherever schema.md names no rule.
SPEC_FOREIGN_KEYS: dict[tuple[str, str], tuple[str, str]] = {
    ("credits", "user_id"): ("users", "CASCADE"),
    ("credit_transactions", "user_id"): ("users", "RESTRICT"),
    ("strategies", "user_id"): ("users", "CASCADE"),
    ("backtests", "user_id"): ("users", "RESTRICT"),
    ("backtests", "strategy_id"): ("strategies", "CASCADE"),
    ("executions", "user_id"): ("users", "RESTRICT"),
    ("executions", "strategy_id"): ("strategies", "RESTRICT"),
    ("templates", "strategy_id"): ("strategies", "RESTRICT"),
    ("templates", "author_id"): ("users", "CASCADE"),
    ("template_clones", "template_id"): ("templates", "RESTRICT"),
    ("template_clones", "author_id"): ("users", "RESTRICT"),
    ("template_clones", "cloner_id"): ("users", "RESTRICT"),
    ("template_clones", "cloned_strategy_id"): ("strategies", "SET NULL"),
    ("credentials", "user_id"): ("users", "CASCADE"),
    ("wallets", "user_id"): ("users", "CASCADE"),
    ("follows", "follower_id"): ("users", "CASCADE"),
    ("follows", "following_id"): ("users", "CASCADE"),
    ("follows", "strategy_id"): ("strategies", "RESTRICT"),
    ("staking_records", "user_id"): ("users", "CASCADE"),
    ("strategy_registrations", "strategy_id"): ("strategies", "CASCADE"),
    ("strategy_registrations", "author_id"): ("users", "RESTRICT"),
    ("settlements", "user_id"): ("users", "RESTRICT"),
    ("settlements", "strategy_id"): ("strategies", "RESTRICT"),
    ("settlements", "author_id"): ("users", "RESTRICT"),
    ("author_royalties", "author_id"): ("users", "CASCADE"),
    ("day_commits", "strategy_id"): ("strategies", "RESTRICT"),
    ("idempotency_keys", "user_id"): ("users", "CASCADE"),
}

# Indexes schema.md lists, as their column lists (a UNIQUE constraint's index counts); an
# index whose columns start with these serves too.
SPEC_INDEXES: dict[str, list[tuple[str, ...]]] = {
    "credit_transactions": [("user_id",), ("type",), ("created_at DESC",)],
    "strategies": [("user_id",), ("status",), ("is_public",)],
    "backtests": [("user_id",), ("strategy_id",), ("status",)],
    "executions": [
        ("user_id",),
        ("strategy_id",),
        ("status",),
        ("strategy_id", "executed_at"),
    ],
    "templates": [("author_id",), ("is_active",)],
    "template_clones": [("template_id",), ("author_id",), ("cloner_id",), ("created_at",)],
    "credentials": [("user_id",), ("type",)],
    "ohlcv_data": [("symbol", "timeframe", "timestamp DESC"), ("timestamp DESC",)],
    "wallets": [("user_id",), ("address",)],
    "follows": [("follower_id",), ("following_id",), ("strategy_id",)],
    "staking_records": [("user_id",), ("type",), ("status",)],
    "strategy_registrations": [
        ("strategy_id",),
        ("author_id",),
        ("status",),
        ("onchain_strategy_id",),
    ],
    "settlements": [
        ("user_id",),
        ("strategy_id",),
        ("author_id",),
        ("day_index",),
        ("status",),
    ],
    "author_royalties": [("author_id",), ("year", "month"), ("status",)],
}

COLUMNS_SQL = text(
    """
    SELECT c.relname AS table_name, a.attname AS column_name,
           format_type(a.atttypid, a.atttypmod) AS type, NOT a.attnotnull AS nullable,
           pg_get_expr(d.adbin, d.adrelid) AS default_expr
    FROM pg_attribute a
    JOIN pg_class c ON c.oid = a.attrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public'
    LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
    WHERE c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped
    """
)

FOREIGN_KEYS_SQL = text(
    """
    SELECT c.conrelid::regclass::text AS table_name, a.attname AS column_name,
           c.confrelid::regclass::text AS referenced,
           CASE c.confdeltype WHEN 'c' THEN 'CASCADE' WHEN 'r' THEN 'RESTRICT'
                WHEN 'n' THEN 'SET NULL' WHEN 'a' THEN 'NO ACTION' ELSE 'SET DEFAULT' END
               AS on_delete
    FROM pg_constraint c
    JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = ANY (c.conkey)
    WHERE c.contype = 'f' AND c.connamespace = 'public'::regnamespace
    """
)

# Full indexes only (a partial one serves only some rows), as their columns with " DESC" where
# the index is descending; an expression key reads "(expression)".
INDEX_COLUMNS_SQL = text(
    """
    SELECT t.relname AS table_name,
           array_agg(
               coalesce(a.attname, '(expression)')
                   || CASE WHEN i.indoption[k.ordinality - 1] & 1 = 1 THEN ' DESC' ELSE '' END
               ORDER BY k.ordinality
           ) AS columns
    FROM pg_index i
    JOIN pg_class t ON t.oid = i.indrelid
    JOIN pg_namespace n ON n.oid = t.relnamespace AND n.nspname = 'public'
    CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ordinality)
    LEFT JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum
    WHERE i.indpred IS NULL
    GROUP BY t.relname, i.indexrelid
    """
)


async def _rows(engine: AsyncEngine, statement: object) -> list[dict[str, object]]:
    async with engine.connect() as connection:
        result = await connection.execute(statement)  # type: ignore[call-overload]
        return [dict(row._mapping) for row in result]


@pytest.fixture(scope="module")
async def columns(engine: AsyncEngine) -> dict[str, dict[str, dict[str, object]]]:
    tables: dict[str, dict[str, dict[str, object]]] = {}
    for row in await _rows(engine, COLUMNS_SQL):
        tables.setdefault(str(row["table_name"]), {})[str(row["column_name"])] = row
    return tables


@pytest.fixture(scope="module")
async def indexes(engine: AsyncEngine) -> dict[str, list[tuple[str, ...]]]:
    found: dict[str, list[tuple[str, ...]]] = {}
    for row in await _rows(engine, INDEX_COLUMNS_SQL):
        found.setdefault(str(row["table_name"]), []).append(tuple(row["columns"]))  # type: ignore[arg-type]
    return found


def test_the_database_holds_the_16_tables_and_the_internal_ones_only(
    columns: dict[str, dict[str, dict[str, object]]],
) -> None:
    expected = set(SPEC_COLUMNS) | INTERNAL_TABLES | {"alembic_version"}
    assert set(columns) == expected
    assert len(SPEC_COLUMNS) == 16


@pytest.mark.parametrize("table", sorted(SPEC_COLUMNS))
def test_each_table_has_the_columns_types_and_nullability_of_schema_md(
    table: str, columns: dict[str, dict[str, dict[str, object]]]
) -> None:
    actual = {
        name: f"{column['type']} NULL" if column["nullable"] else str(column["type"])
        for name, column in columns[table].items()
    }
    assert actual == SPEC_COLUMNS[table]


def test_uuid_keys_come_from_gen_random_uuid_and_timestamps_default_to_now(
    columns: dict[str, dict[str, dict[str, object]]],
) -> None:
    for table, table_columns in columns.items():
        for name, column in table_columns.items():
            if name == "id" and column["type"] == UUID:
                assert column["default_expr"] == "gen_random_uuid()", table
            if name in {"created_at", "updated_at"}:
                assert column["default_expr"] == "now()", f"{table}.{name}"


async def test_every_foreign_key_has_the_on_delete_rule_of_schema_md(
    engine: AsyncEngine,
) -> None:
    actual = {
        (str(row["table_name"]), str(row["column_name"])): (
            str(row["referenced"]),
            str(row["on_delete"]),
        )
        for row in await _rows(engine, FOREIGN_KEYS_SQL)
    }
    assert actual == SPEC_FOREIGN_KEYS


def test_every_foreign_key_column_leads_an_index(
    indexes: dict[str, list[tuple[str, ...]]],
) -> None:
    unindexed = [
        f"{table}.{column}"
        for table, column in SPEC_FOREIGN_KEYS
        if not any(index[0] == column for index in indexes.get(table, []))
    ]
    assert unindexed == []


@pytest.mark.parametrize("table", sorted(SPEC_INDEXES))
def test_each_index_schema_md_lists_exists(
    table: str, indexes: dict[str, list[tuple[str, ...]]]
) -> None:
    missing = [
        spec
        for spec in SPEC_INDEXES[table]
        if not any(index[: len(spec)] == spec for index in indexes[table])
    ]
    assert missing == []


# The only columns PostgreSQL fills from a sequence: surrogate keys and the ledger's posting
# order. A natural key (a chain's id, a block number) must always be given.
GENERATED_COLUMNS = {
    ("ohlcv_data", "id"),
    ("chain_events", "id"),
    ("indexer_reorgs", "id"),
    ("credit_transactions", "seq"),
}

GENERATED_COLUMNS_SQL = text(
    """
    SELECT c.relname AS table_name, a.attname AS column_name
    FROM pg_attribute a
    JOIN pg_class c ON c.oid = a.attrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public'
    LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
    WHERE c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped
      AND (a.attidentity <> '' OR pg_get_expr(d.adbin, d.adrelid) LIKE 'nextval(%')
    """
)

TRIGGERS_SQL = text(
    """
    SELECT c.relname AS table_name, t.tgname AS trigger_name, p.proname AS function_name
    FROM pg_trigger t
    JOIN pg_class c ON c.oid = t.tgrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public'
    JOIN pg_proc p ON p.oid = t.tgfoid
    WHERE NOT t.tgisinternal
    """
)


async def test_only_surrogate_keys_and_the_posting_order_are_generated(
    engine: AsyncEngine,
) -> None:
    generated = {
        (str(row["table_name"]), str(row["column_name"]))
        for row in await _rows(engine, GENERATED_COLUMNS_SQL)
    }
    assert generated == GENERATED_COLUMNS


async def test_every_table_with_updated_at_moves_it_and_users_and_the_ledger_have_their_guards(
    engine: AsyncEngine, columns: dict[str, dict[str, dict[str, object]]]
) -> None:
    with_updated_at = {
        table for table, table_columns in columns.items() if "updated_at" in table_columns
    }
    expected = {(table, f"{table}_set_updated_at", "set_updated_at") for table in with_updated_at}
    expected |= {
        ("users", "users_create_credit_account", "create_credit_account"),
        ("credit_transactions", "credit_transactions_append_only", "refuse_ledger_change"),
    }
    actual = {
        (str(row["table_name"]), str(row["trigger_name"]), str(row["function_name"]))
        for row in await _rows(engine, TRIGGERS_SQL)
    }
    assert actual == expected


def text_default(value: str) -> str:
    return f"'{value}'::character varying"


# Server defaults schema.md gives, besides ids and timestamps (checked above); any other column
# of the 16 tables has none.
SPEC_DEFAULTS: dict[str, dict[str, str]] = {
    "users": {"is_active": "true", "is_superuser": "false"},
    "credits": {"balance": "0"},
    "strategies": {"status": text_default("DRAFT"), "is_public": "false"},
    "backtests": {"status": text_default("QUEUED")},
    "executions": {"status": text_default("PENDING")},
    "templates": {"price_credits": "0", "clone_count": "0", "is_active": "true"},
    "credentials": {"is_active": "true"},
    "wallets": {"is_verified": "false"},
    "follows": {"is_active": "true"},
    "staking_records": {"tier": "0", "status": text_default("PENDING")},
    "strategy_registrations": {"status": text_default("PENDING")},
    "settlements": {
        "user_tier": "0",
        "author_tier": "0",
        "discount_bps": "0",
        "author_fee_credits": "0",
        "platform_fee_credits": "0",
        "status": text_default("PENDING"),
    },
    "author_royalties": {
        "total_clones": "0",
        "total_revenue_credits": "0",
        "royalty_rate_bps": "1000",
        "royalty_amount_credits": "0",
        "status": text_default("PENDING"),
    },
}
SHARED_DEFAULTS = {"id", "created_at", "updated_at"}


@pytest.mark.parametrize("table", sorted(SPEC_COLUMNS))
def test_each_table_has_the_column_defaults_of_schema_md(
    table: str, columns: dict[str, dict[str, dict[str, object]]]
) -> None:
    actual = {
        name: str(column["default_expr"])
        for name, column in columns[table].items()
        if column["default_expr"] is not None
        and name not in SHARED_DEFAULTS
        and (table, name) not in GENERATED_COLUMNS
    }
    assert actual == SPEC_DEFAULTS.get(table, {})


def test_every_at_column_is_a_timestamp_with_time_zone(
    columns: dict[str, dict[str, dict[str, object]]],
) -> None:
    not_timestamptz = [
        f"{table}.{name}: {column['type']}"
        for table, table_columns in columns.items()
        for name, column in table_columns.items()
        if name.endswith("_at") and column["type"] != TS
    ]
    assert not_timestamptz == []
