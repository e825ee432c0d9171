"""Initial schema: the 16 tables of schema.md, the internal tables and their triggers.

Revision ID: 0001
Revises:
Create Date: 2026-11-23 22:13:50.705633
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

TABLES_WITH_UPDATED_AT = (
    "users",
    "credits",
    "strategies",
    "templates",
    "credentials",
    "wallets",
    "follows",
    "author_royalties",
    "indexer_cursors",
    "day_commits",
)

SET_UPDATED_AT = """
CREATE FUNCTION set_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END $$
"""

# Every user gets a credit account in the same statement that creates the user.
CREATE_CREDIT_ACCOUNT = """
CREATE FUNCTION create_credit_account() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO credits (user_id) VALUES (NEW.id);
    RETURN NEW;
END $$
"""

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "chain_blocks",
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("number", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(length=66), nullable=False),
        sa.Column("parent_hash", sa.String(length=66), nullable=False),
        sa.Column("timestamp", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("chain_id", "number", name=op.f("pk_chain_blocks")),
    )
    op.create_table(
        "chain_events",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("block_hash", sa.String(length=66), nullable=False),
        sa.Column("block_timestamp", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tx_hash", sa.String(length=66), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.Column("contract_address", sa.String(length=42), nullable=False),
        sa.Column("event_name", sa.String(length=64), nullable=False),
        sa.Column("topics", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("args", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column(
            "projection_status",
            sa.String(length=20),
            server_default=sa.text("'PENDING'"),
            nullable=False,
        ),
        sa.Column("projection_error", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "projection_status IN ('PENDING', 'APPLIED', 'PARKED', 'RAW_ONLY', 'FAILED')",
            name=op.f("ck_chain_events_projection_status"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chain_events")),
        sa.UniqueConstraint(
            "chain_id",
            "tx_hash",
            "log_index",
            name=op.f("uq_chain_events_chain_id_tx_hash_log_index"),
        ),
    )
    op.create_index(
        "ix_chain_events_chain_id_block_number",
        "chain_events",
        ["chain_id", "block_number"],
        unique=False,
    )
    op.create_index("ix_chain_events_event_name", "chain_events", ["event_name"], unique=False)
    op.create_index(
        "ix_chain_events_unprojected",
        "chain_events",
        ["projection_status"],
        unique=False,
        postgresql_where=sa.text("projection_status <> 'APPLIED'"),
    )
    op.create_table(
        "indexer_cursors",
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("last_block_number", sa.BigInteger(), nullable=False),
        sa.Column("last_block_hash", sa.String(length=66), nullable=False),
        sa.Column(
            "finalized_block_number", sa.BigInteger(), server_default=sa.text("0"), nullable=False
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("chain_id", name=op.f("pk_indexer_cursors")),
    )
    op.create_table(
        "ohlcv_data",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("symbol", sa.String(length=20), nullable=False),
        sa.Column("timeframe", sa.String(length=10), nullable=False),
        sa.Column("timestamp", sa.DateTime(timezone=True), nullable=False),
        sa.Column("open", sa.Numeric(precision=20, scale=8), nullable=False),
        sa.Column("high", sa.Numeric(precision=20, scale=8), nullable=False),
        sa.Column("low", sa.Numeric(precision=20, scale=8), nullable=False),
        sa.Column("close", sa.Numeric(precision=20, scale=8), nullable=False),
        sa.Column("volume", sa.Numeric(precision=30, scale=8), nullable=False),
        sa.CheckConstraint(
            "low <= open AND low <= close AND open <= high AND close <= high",
            name=op.f("ck_ohlcv_data_prices_within_range"),
        ),
        sa.CheckConstraint("volume >= 0", name=op.f("ck_ohlcv_data_volume_not_negative")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ohlcv_data")),
        sa.UniqueConstraint(
            "symbol",
            "timeframe",
            "timestamp",
            name=op.f("uq_ohlcv_data_symbol_timeframe_timestamp"),
        ),
    )
    op.create_index(
        "ix_ohlcv_data_symbol_timeframe_timestamp_desc",
        "ohlcv_data",
        ["symbol", "timeframe", sa.literal_column("timestamp DESC")],
        unique=False,
    )
    op.create_index(
        "ix_ohlcv_data_timestamp_desc",
        "ohlcv_data",
        [sa.literal_column("timestamp DESC")],
        unique=False,
    )
    op.create_table(
        "settlement_runs",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("period", sa.String(length=10), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column(
            "started_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "figures",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("error", sa.Text(), nullable=True),
        sa.CheckConstraint("kind IN ('DAILY', 'ROYALTY')", name=op.f("ck_settlement_runs_kind")),
        sa.CheckConstraint(
            "status IN ('RUNNING', 'DONE', 'FAILED')", name=op.f("ck_settlement_runs_status")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_settlement_runs")),
        sa.UniqueConstraint("kind", "period", name=op.f("uq_settlement_runs_kind_period")),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("email", sa.String(length=255), nullable=False),
        sa.Column("hashed_password", sa.String(length=255), nullable=False),
        sa.Column("full_name", sa.String(length=100), nullable=True),
        sa.Column("manual_tier", sa.Integer(), nullable=True),
        sa.Column("is_active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("is_superuser", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("email = lower(email)", name=op.f("ck_users_email_lower_case")),
        sa.CheckConstraint("manual_tier BETWEEN 0 AND 5", name=op.f("ck_users_manual_tier_range")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("email", name=op.f("uq_users_email")),
    )
    op.create_table(
        "author_royalties",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("author_id", sa.UUID(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("month", sa.Integer(), nullable=False),
        sa.Column("total_clones", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column(
            "total_revenue_credits", sa.BigInteger(), server_default=sa.text("0"), nullable=False
        ),
        sa.Column("royalty_rate_bps", sa.Integer(), server_default=sa.text("1000"), nullable=False),
        sa.Column(
            "royalty_amount_credits", sa.BigInteger(), server_default=sa.text("0"), nullable=False
        ),
        sa.Column(
            "status", sa.String(length=20), server_default=sa.text("'PENDING'"), nullable=False
        ),
        sa.Column("paid_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "status IN ('PENDING', 'PAID', 'CANCELLED')", name=op.f("ck_author_royalties_status")
        ),
        sa.CheckConstraint("month BETWEEN 1 AND 12", name=op.f("ck_author_royalties_month_range")),
        sa.CheckConstraint(
            "royalty_rate_bps BETWEEN 0 AND 10000",
            name=op.f("ck_author_royalties_royalty_rate_bps_range"),
        ),
        sa.CheckConstraint(
            "total_clones >= 0 AND total_revenue_credits >= 0 AND royalty_amount_credits >= 0",
            name=op.f("ck_author_royalties_figures_not_negative"),
        ),
        sa.CheckConstraint(
            "year BETWEEN 2000 AND 9999", name=op.f("ck_author_royalties_year_range")
        ),
        sa.ForeignKeyConstraint(
            ["author_id"],
            ["users.id"],
            name=op.f("fk_author_royalties_author_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_author_royalties")),
        sa.UniqueConstraint(
            "author_id", "year", "month", name=op.f("uq_author_royalties_author_id_year_month")
        ),
    )
    op.create_index(
        op.f("ix_author_royalties_author_id"), "author_royalties", ["author_id"], unique=False
    )
    op.create_index(
        op.f("ix_author_royalties_status"), "author_royalties", ["status"], unique=False
    )
    op.create_index(
        "ix_author_royalties_year_month", "author_royalties", ["year", "month"], unique=False
    )
    op.create_table(
        "credentials",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("type", sa.String(length=20), nullable=False),
        sa.Column("provider", sa.String(length=50), nullable=False),
        sa.Column("encrypted_api_key", sa.Text(), nullable=False),
        sa.Column("encrypted_api_secret", sa.Text(), nullable=True),
        sa.Column("nickname", sa.String(length=100), nullable=True),
        sa.Column("is_active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("type IN ('LLM', 'EXCHANGE')", name=op.f("ck_credentials_type")),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_credentials_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credentials")),
    )
    op.create_index(op.f("ix_credentials_type"), "credentials", ["type"], unique=False)
    op.create_index(op.f("ix_credentials_user_id"), "credentials", ["user_id"], unique=False)
    op.create_table(
        "credit_transactions",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("seq", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("balance_after", sa.BigInteger(), nullable=False),
        sa.Column("type", sa.String(length=50), nullable=False),
        sa.Column("reference_id", sa.UUID(), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "type IN ('PURCHASE', 'BACKTEST', 'EXECUTION', 'TEMPLATE_CLONE', 'SETTLEMENT_FEE', 'AUTHOR_FEE', 'ROYALTY', 'ADMIN_ADJUSTMENT', 'REFUND')",
            name=op.f("ck_credit_transactions_type"),
        ),
        sa.CheckConstraint("amount <> 0", name=op.f("ck_credit_transactions_amount_not_zero")),
        sa.CheckConstraint(
            "balance_after >= 0", name=op.f("ck_credit_transactions_balance_after_not_negative")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_credit_transactions_user_id_users"),
            ondelete="RESTRICT",
        ),
        sa.UniqueConstraint("seq", name=op.f("uq_credit_transactions_seq")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_transactions")),
    )
    op.create_index(
        "ix_credit_transactions_created_at",
        "credit_transactions",
        [sa.literal_column("created_at DESC")],
        unique=False,
    )
    op.create_index("ix_credit_transactions_type", "credit_transactions", ["type"], unique=False)
    op.create_index(
        "ix_credit_transactions_user_id",
        "credit_transactions",
        ["user_id", sa.literal_column("created_at DESC")],
        unique=False,
    )
    op.create_index(
        "uq_credit_transactions_user_id_type_reference_id",
        "credit_transactions",
        ["user_id", "type", "reference_id"],
        unique=True,
        postgresql_where=sa.text("reference_id IS NOT NULL"),
    )
    op.create_table(
        "credits",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("balance", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("balance >= 0", name=op.f("ck_credits_balance_not_negative")),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_credits_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credits")),
        sa.UniqueConstraint("user_id", name=op.f("uq_credits_user_id")),
    )
    op.create_table(
        "idempotency_keys",
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("request_fingerprint", sa.String(length=64), nullable=False),
        sa.Column("response_status", sa.Integer(), nullable=True),
        sa.Column("response_body", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_idempotency_keys_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "key", name=op.f("pk_idempotency_keys")),
    )
    op.create_index(
        "ix_idempotency_keys_created_at", "idempotency_keys", ["created_at"], unique=False
    )
    op.create_table(
        "staking_records",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("amount", sa.Numeric(precision=30, scale=18), nullable=False),
        sa.Column("tier", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("type", sa.String(length=10), nullable=False),
        sa.Column("onchain_tx_hash", sa.String(length=66), nullable=True),
        sa.Column(
            "status", sa.String(length=20), server_default=sa.text("'PENDING'"), nullable=False
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("wallet_address", sa.String(length=42), nullable=True),
        sa.Column("block_number", sa.BigInteger(), nullable=True),
        sa.Column("log_index", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "status IN ('PENDING', 'CONFIRMED', 'FAILED')", name=op.f("ck_staking_records_status")
        ),
        sa.CheckConstraint("type IN ('STAKE', 'UNSTAKE')", name=op.f("ck_staking_records_type")),
        sa.CheckConstraint("amount >= 0", name=op.f("ck_staking_records_amount_not_negative")),
        sa.CheckConstraint("tier BETWEEN 0 AND 5", name=op.f("ck_staking_records_tier_range")),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_staking_records_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staking_records")),
        sa.UniqueConstraint(
            "onchain_tx_hash",
            "log_index",
            name=op.f("uq_staking_records_onchain_tx_hash_log_index"),
        ),
    )
    op.create_index(op.f("ix_staking_records_status"), "staking_records", ["status"], unique=False)
    op.create_index(op.f("ix_staking_records_type"), "staking_records", ["type"], unique=False)
    op.create_index(
        op.f("ix_staking_records_user_id"), "staking_records", ["user_id"], unique=False
    )
    op.create_table(
        "strategies",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("definition", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column(
            "status", sa.String(length=20), server_default=sa.text("'DRAFT'"), nullable=False
        ),
        sa.Column("is_public", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "status IN ('DRAFT', 'DEPLOYED', 'PAUSED', 'ARCHIVED')",
            name=op.f("ck_strategies_status"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_strategies_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_strategies")),
    )
    op.create_index(op.f("ix_strategies_is_public"), "strategies", ["is_public"], unique=False)
    op.create_index(op.f("ix_strategies_status"), "strategies", ["status"], unique=False)
    op.create_index(op.f("ix_strategies_user_id"), "strategies", ["user_id"], unique=False)
    op.create_table(
        "wallets",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("address", sa.String(length=42), nullable=False),
        sa.Column("is_verified", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("verification_signature", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "address ~ '^0x[0-9a-f]{40}$'", name=op.f("ck_wallets_address_lower_hex")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_wallets_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wallets")),
        sa.UniqueConstraint("address", name=op.f("uq_wallets_address")),
    )
    op.create_index(op.f("ix_wallets_user_id"), "wallets", ["user_id"], unique=False)
    op.create_table(
        "backtests",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("strategy_id", sa.UUID(), nullable=False),
        sa.Column("symbol", sa.String(length=20), nullable=False),
        sa.Column("timeframe", sa.String(length=10), nullable=False),
        sa.Column("start_date", sa.DateTime(timezone=True), nullable=False),
        sa.Column("end_date", sa.DateTime(timezone=True), nullable=False),
        sa.Column("initial_capital", sa.Numeric(precision=20, scale=8), nullable=False),
        sa.Column("final_capital", sa.Numeric(precision=20, scale=8), nullable=True),
        sa.Column("total_return_bp", sa.Integer(), nullable=True),
        sa.Column("mdd_bp", sa.Integer(), nullable=True),
        sa.Column("win_rate_bp", sa.Integer(), nullable=True),
        sa.Column("sharpe_ratio", sa.Numeric(precision=10, scale=4), nullable=True),
        sa.Column("trade_count", sa.Integer(), nullable=True),
        sa.Column(
            "status", sa.String(length=20), server_default=sa.text("'QUEUED'"), nullable=False
        ),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('QUEUED', 'RUNNING', 'COMPLETED', 'FAILED')",
            name=op.f("ck_backtests_status"),
        ),
        sa.CheckConstraint("end_date > start_date", name=op.f("ck_backtests_end_after_start")),
        sa.CheckConstraint(
            "initial_capital > 0", name=op.f("ck_backtests_initial_capital_positive")
        ),
        sa.CheckConstraint(
            "total_return_bp >= -10000", name=op.f("ck_backtests_total_return_bp_floor")
        ),
        sa.ForeignKeyConstraint(
            ["strategy_id"],
            ["strategies.id"],
            name=op.f("fk_backtests_strategy_id_strategies"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_backtests_user_id_users"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_backtests")),
    )
    op.create_index(op.f("ix_backtests_status"), "backtests", ["status"], unique=False)
    op.create_index(op.f("ix_backtests_strategy_id"), "backtests", ["strategy_id"], unique=False)
    op.create_index(op.f("ix_backtests_user_id"), "backtests", ["user_id"], unique=False)
    op.create_table(
        "day_commits",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("strategy_id", sa.UUID(), nullable=False),
        sa.Column("day_index", sa.BigInteger(), nullable=False),
        sa.Column("merkle_root", sa.String(length=66), nullable=False),
        sa.Column("leaf_count", sa.Integer(), nullable=False),
        sa.Column("total_volume", sa.Numeric(precision=30, scale=8), nullable=False),
        sa.Column("onchain_tx_hash", sa.String(length=66), nullable=True),
        sa.Column("committed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("leaf_count > 0", name=op.f("ck_day_commits_leaf_count_positive")),
        sa.CheckConstraint(
            "total_volume >= 0", name=op.f("ck_day_commits_total_volume_not_negative")
        ),
        sa.ForeignKeyConstraint(
            ["strategy_id"],
            ["strategies.id"],
            name=op.f("fk_day_commits_strategy_id_strategies"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_day_commits")),
        sa.UniqueConstraint(
            "strategy_id", "day_index", name=op.f("uq_day_commits_strategy_id_day_index")
        ),
    )
    op.create_index("ix_day_commits_day_index", "day_commits", ["day_index"], unique=False)
    op.create_index(
        op.f("ix_day_commits_strategy_id"), "day_commits", ["strategy_id"], unique=False
    )
    op.create_table(
        "executions",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("strategy_id", sa.UUID(), nullable=False),
        sa.Column("symbol", sa.String(length=20), nullable=False),
        sa.Column("side", sa.String(length=4), nullable=False),
        sa.Column("order_type", sa.String(length=10), nullable=False),
        sa.Column("amount", sa.Numeric(precision=20, scale=8), nullable=False),
        sa.Column("price", sa.Numeric(precision=20, scale=8), nullable=True),
        sa.Column("executed_price", sa.Numeric(precision=20, scale=8), nullable=True),
        sa.Column(
            "status", sa.String(length=20), server_default=sa.text("'PENDING'"), nullable=False
        ),
        sa.Column("exchange_order_id", sa.String(length=100), nullable=True),
        sa.Column("fee", sa.Numeric(precision=20, scale=8), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("executed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "order_type <> 'LIMIT' OR price IS NOT NULL", name=op.f("ck_executions_limit_has_price")
        ),
        sa.CheckConstraint(
            "order_type IN ('MARKET', 'LIMIT')", name=op.f("ck_executions_order_type")
        ),
        sa.CheckConstraint("side IN ('BUY', 'SELL')", name=op.f("ck_executions_side")),
        sa.CheckConstraint(
            "status <> 'FILLED' OR (executed_price IS NOT NULL AND executed_at IS NOT NULL)",
            name=op.f("ck_executions_filled_has_price_and_time"),
        ),
        sa.CheckConstraint(
            "status IN ('PENDING', 'FILLED', 'FAILED', 'CANCELLED')",
            name=op.f("ck_executions_status"),
        ),
        sa.CheckConstraint("amount > 0", name=op.f("ck_executions_amount_positive")),
        sa.ForeignKeyConstraint(
            ["strategy_id"],
            ["strategies.id"],
            name=op.f("fk_executions_strategy_id_strategies"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_executions_user_id_users"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_executions")),
        sa.UniqueConstraint("exchange_order_id", name=op.f("uq_executions_exchange_order_id")),
    )
    op.create_index(op.f("ix_executions_status"), "executions", ["status"], unique=False)
    op.create_index(op.f("ix_executions_strategy_id"), "executions", ["strategy_id"], unique=False)
    op.create_index(
        "ix_executions_strategy_id_executed_at",
        "executions",
        ["strategy_id", "executed_at"],
        unique=False,
    )
    op.create_index(op.f("ix_executions_user_id"), "executions", ["user_id"], unique=False)
    op.create_table(
        "follows",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("follower_id", sa.UUID(), nullable=False),
        sa.Column("following_id", sa.UUID(), nullable=False),
        sa.Column("strategy_id", sa.UUID(), nullable=True),
        sa.Column("is_active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("onchain_tx_hash", sa.String(length=66), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("follower_id <> following_id", name=op.f("ck_follows_not_self")),
        sa.ForeignKeyConstraint(
            ["follower_id"],
            ["users.id"],
            name=op.f("fk_follows_follower_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["following_id"],
            ["users.id"],
            name=op.f("fk_follows_following_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["strategy_id"],
            ["strategies.id"],
            name=op.f("fk_follows_strategy_id_strategies"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_follows")),
        sa.UniqueConstraint(
            "follower_id",
            "following_id",
            "strategy_id",
            name=op.f("uq_follows_follower_id_following_id_strategy_id"),
            postgresql_nulls_not_distinct=True,
        ),
    )
    op.create_index(op.f("ix_follows_follower_id"), "follows", ["follower_id"], unique=False)
    op.create_index(op.f("ix_follows_following_id"), "follows", ["following_id"], unique=False)
    op.create_index(op.f("ix_follows_strategy_id"), "follows", ["strategy_id"], unique=False)
    op.create_table(
        "settlements",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("strategy_id", sa.UUID(), nullable=False),
        sa.Column("author_id", sa.UUID(), nullable=False),
        sa.Column("day_index", sa.BigInteger(), nullable=False),
        sa.Column("total_volume", sa.Numeric(precision=30, scale=8), nullable=False),
        sa.Column("fee_amount", sa.Numeric(precision=30, scale=8), nullable=False),
        sa.Column("fee_credits", sa.BigInteger(), nullable=False),
        sa.Column("user_tier", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("author_tier", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("discount_bps", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column(
            "author_fee_credits", sa.BigInteger(), server_default=sa.text("0"), nullable=False
        ),
        sa.Column(
            "platform_fee_credits", sa.BigInteger(), server_default=sa.text("0"), nullable=False
        ),
        sa.Column(
            "status", sa.String(length=20), server_default=sa.text("'PENDING'"), nullable=False
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("paid_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("onchain_settlement_id", sa.Numeric(precision=78, scale=0), nullable=True),
        sa.Column("paid_tx_hash", sa.String(length=66), nullable=True),
        sa.Column("paid_via", sa.String(length=10), nullable=True),
        sa.CheckConstraint(
            "paid_via IS NULL OR paid_via IN ('CREDITS', 'ONCHAIN')",
            name=op.f("ck_settlements_paid_via"),
        ),
        sa.CheckConstraint(
            "status <> 'PAID' OR (paid_at IS NOT NULL AND paid_via IS NOT NULL)",
            name=op.f("ck_settlements_paid_has_time_and_way"),
        ),
        sa.CheckConstraint(
            "status IN ('PENDING', 'PAID', 'FAILED')", name=op.f("ck_settlements_status")
        ),
        sa.CheckConstraint(
            "author_fee_credits + platform_fee_credits = fee_credits",
            name=op.f("ck_settlements_fee_parts_add_up"),
        ),
        sa.CheckConstraint("day_index >= 0", name=op.f("ck_settlements_day_index_not_negative")),
        sa.CheckConstraint(
            "discount_bps BETWEEN 0 AND 10000", name=op.f("ck_settlements_discount_bps_range")
        ),
        sa.CheckConstraint(
            "fee_credits >= 0 AND author_fee_credits >= 0 AND platform_fee_credits >= 0",
            name=op.f("ck_settlements_fee_credits_not_negative"),
        ),
        sa.CheckConstraint(
            "total_volume >= 0 AND fee_amount >= 0",
            name=op.f("ck_settlements_amounts_not_negative"),
        ),
        sa.CheckConstraint(
            "user_tier BETWEEN 0 AND 5 AND author_tier BETWEEN 0 AND 5",
            name=op.f("ck_settlements_tier_range"),
        ),
        sa.ForeignKeyConstraint(
            ["author_id"],
            ["users.id"],
            name=op.f("fk_settlements_author_id_users"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["strategy_id"],
            ["strategies.id"],
            name=op.f("fk_settlements_strategy_id_strategies"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_settlements_user_id_users"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_settlements")),
        sa.UniqueConstraint(
            "onchain_settlement_id", name=op.f("uq_settlements_onchain_settlement_id")
        ),
        sa.UniqueConstraint(
            "user_id",
            "strategy_id",
            "day_index",
            name=op.f("uq_settlements_user_id_strategy_id_day_index"),
        ),
    )
    op.create_index(op.f("ix_settlements_author_id"), "settlements", ["author_id"], unique=False)
    op.create_index("ix_settlements_day_index", "settlements", ["day_index"], unique=False)
    op.create_index(op.f("ix_settlements_status"), "settlements", ["status"], unique=False)
    op.create_index(
        op.f("ix_settlements_strategy_id"), "settlements", ["strategy_id"], unique=False
    )
    op.create_index(op.f("ix_settlements_user_id"), "settlements", ["user_id"], unique=False)
    op.create_table(
        "strategy_registrations",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("strategy_id", sa.UUID(), nullable=False),
        sa.Column("author_id", sa.UUID(), nullable=False),
        sa.Column("onchain_strategy_id", sa.BigInteger(), nullable=True),
        sa.Column("merkle_root", sa.String(length=66), nullable=True),
        sa.Column("onchain_tx_hash", sa.String(length=66), nullable=True),
        sa.Column(
            "status", sa.String(length=20), server_default=sa.text("'PENDING'"), nullable=False
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("metadata_uri", sa.Text(), nullable=False),
        sa.Column("onchain_status", sa.String(length=30), nullable=True),
        sa.CheckConstraint(
            "onchain_status IS NULL OR onchain_status IN ('DRAFT', 'PENDING_REVIEW', 'VERIFIED', 'ACTIVATION_REQUESTED', 'ACTIVE', 'SUSPENDED', 'REJECTED')",
            name=op.f("ck_strategy_registrations_onchain_status"),
        ),
        sa.CheckConstraint(
            "status IN ('PENDING', 'REGISTERED', 'FAILED')",
            name=op.f("ck_strategy_registrations_status"),
        ),
        sa.ForeignKeyConstraint(
            ["author_id"],
            ["users.id"],
            name=op.f("fk_strategy_registrations_author_id_users"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["strategy_id"],
            ["strategies.id"],
            name=op.f("fk_strategy_registrations_strategy_id_strategies"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_strategy_registrations")),
        sa.UniqueConstraint(
            "onchain_strategy_id", name=op.f("uq_strategy_registrations_onchain_strategy_id")
        ),
        sa.UniqueConstraint("strategy_id", name=op.f("uq_strategy_registrations_strategy_id")),
    )
    op.create_index(
        op.f("ix_strategy_registrations_author_id"),
        "strategy_registrations",
        ["author_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_strategy_registrations_metadata_uri"),
        "strategy_registrations",
        ["metadata_uri"],
        unique=False,
    )
    op.create_index(
        op.f("ix_strategy_registrations_status"), "strategy_registrations", ["status"], unique=False
    )
    op.create_table(
        "templates",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("strategy_id", sa.UUID(), nullable=False),
        sa.Column("author_id", sa.UUID(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("price_credits", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("clone_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("is_active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("clone_count >= 0", name=op.f("ck_templates_clone_count_not_negative")),
        sa.CheckConstraint(
            "price_credits >= 0", name=op.f("ck_templates_price_credits_not_negative")
        ),
        sa.ForeignKeyConstraint(
            ["author_id"],
            ["users.id"],
            name=op.f("fk_templates_author_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["strategy_id"],
            ["strategies.id"],
            name=op.f("fk_templates_strategy_id_strategies"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_templates")),
    )
    op.create_index(op.f("ix_templates_author_id"), "templates", ["author_id"], unique=False)
    op.create_index(op.f("ix_templates_is_active"), "templates", ["is_active"], unique=False)
    op.create_index(op.f("ix_templates_strategy_id"), "templates", ["strategy_id"], unique=False)
    op.create_index(
        "uq_templates_strategy_id_active",
        "templates",
        ["strategy_id"],
        unique=True,
        postgresql_where=sa.text("is_active"),
    )
    op.create_table(
        "template_clones",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("template_id", sa.UUID(), nullable=False),
        sa.Column("author_id", sa.UUID(), nullable=False),
        sa.Column("cloner_id", sa.UUID(), nullable=False),
        sa.Column("cloned_strategy_id", sa.UUID(), nullable=True),
        sa.Column("price_credits", sa.BigInteger(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "price_credits >= 0", name=op.f("ck_template_clones_price_credits_not_negative")
        ),
        sa.ForeignKeyConstraint(
            ["author_id"],
            ["users.id"],
            name=op.f("fk_template_clones_author_id_users"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["cloned_strategy_id"],
            ["strategies.id"],
            name=op.f("fk_template_clones_cloned_strategy_id_strategies"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["cloner_id"],
            ["users.id"],
            name=op.f("fk_template_clones_cloner_id_users"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["template_id"],
            ["templates.id"],
            name=op.f("fk_template_clones_template_id_templates"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_template_clones")),
    )
    op.create_index(
        op.f("ix_template_clones_author_id"), "template_clones", ["author_id"], unique=False
    )
    op.create_index(
        op.f("ix_template_clones_cloned_strategy_id"),
        "template_clones",
        ["cloned_strategy_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_template_clones_cloner_id"), "template_clones", ["cloner_id"], unique=False
    )
    op.create_index(
        "ix_template_clones_created_at", "template_clones", ["created_at"], unique=False
    )
    op.create_index(
        op.f("ix_template_clones_template_id"), "template_clones", ["template_id"], unique=False
    )

    op.execute(SET_UPDATED_AT)
    for table in TABLES_WITH_UPDATED_AT:
        op.execute(
            f"CREATE TRIGGER {table}_set_updated_at BEFORE UPDATE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION set_updated_at()"
        )
    op.execute(CREATE_CREDIT_ACCOUNT)
    op.execute(
        "CREATE TRIGGER users_create_credit_account AFTER INSERT ON users "
        "FOR EACH ROW EXECUTE FUNCTION create_credit_account()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER users_create_credit_account ON users")
    op.execute("DROP FUNCTION create_credit_account()")
    for table in TABLES_WITH_UPDATED_AT:
        op.execute(f"DROP TRIGGER {table}_set_updated_at ON {table}")
    op.execute("DROP FUNCTION set_updated_at()")
    op.drop_index(op.f("ix_template_clones_template_id"), table_name="template_clones")
    op.drop_index("ix_template_clones_created_at", table_name="template_clones")
    op.drop_index(op.f("ix_template_clones_cloner_id"), table_name="template_clones")
    op.drop_index(op.f("ix_template_clones_cloned_strategy_id"), table_name="template_clones")
    op.drop_index(op.f("ix_template_clones_author_id"), table_name="template_clones")
    op.drop_table("template_clones")
    op.drop_index(
        "uq_templates_strategy_id_active",
        table_name="templates",
        postgresql_where=sa.text("is_active"),
    )
    op.drop_index(op.f("ix_templates_strategy_id"), table_name="templates")
    op.drop_index(op.f("ix_templates_is_active"), table_name="templates")
    op.drop_index(op.f("ix_templates_author_id"), table_name="templates")
    op.drop_table("templates")
    op.drop_index(op.f("ix_strategy_registrations_status"), table_name="strategy_registrations")
    op.drop_index(
        op.f("ix_strategy_registrations_metadata_uri"), table_name="strategy_registrations"
    )
    op.drop_index(op.f("ix_strategy_registrations_author_id"), table_name="strategy_registrations")
    op.drop_table("strategy_registrations")
    op.drop_index(op.f("ix_settlements_user_id"), table_name="settlements")
    op.drop_index(op.f("ix_settlements_strategy_id"), table_name="settlements")
    op.drop_index(op.f("ix_settlements_status"), table_name="settlements")
    op.drop_index("ix_settlements_day_index", table_name="settlements")
    op.drop_index(op.f("ix_settlements_author_id"), table_name="settlements")
    op.drop_table("settlements")
    op.drop_index(op.f("ix_follows_strategy_id"), table_name="follows")
    op.drop_index(op.f("ix_follows_following_id"), table_name="follows")
    op.drop_index(op.f("ix_follows_follower_id"), table_name="follows")
    op.drop_table("follows")
    op.drop_index(op.f("ix_executions_user_id"), table_name="executions")
    op.drop_index("ix_executions_strategy_id_executed_at", table_name="executions")
    op.drop_index(op.f("ix_executions_strategy_id"), table_name="executions")
    op.drop_index(op.f("ix_executions_status"), table_name="executions")
    op.drop_table("executions")
    op.drop_index(op.f("ix_day_commits_strategy_id"), table_name="day_commits")
    op.drop_index("ix_day_commits_day_index", table_name="day_commits")
    op.drop_table("day_commits")
    op.drop_index(op.f("ix_backtests_user_id"), table_name="backtests")
    op.drop_index(op.f("ix_backtests_strategy_id"), table_name="backtests")
    op.drop_index(op.f("ix_backtests_status"), table_name="backtests")
    op.drop_table("backtests")
    op.drop_index(op.f("ix_wallets_user_id"), table_name="wallets")
    op.drop_table("wallets")
    op.drop_index(op.f("ix_strategies_user_id"), table_name="strategies")
    op.drop_index(op.f("ix_strategies_status"), table_name="strategies")
    op.drop_index(op.f("ix_strategies_is_public"), table_name="strategies")
    op.drop_table("strategies")
    op.drop_index(op.f("ix_staking_records_user_id"), table_name="staking_records")
    op.drop_index(op.f("ix_staking_records_type"), table_name="staking_records")
    op.drop_index(op.f("ix_staking_records_status"), table_name="staking_records")
    op.drop_table("staking_records")
    op.drop_index("ix_idempotency_keys_created_at", table_name="idempotency_keys")
    op.drop_table("idempotency_keys")
    op.drop_table("credits")
    op.drop_index(
        "uq_credit_transactions_user_id_type_reference_id",
        table_name="credit_transactions",
        postgresql_where=sa.text("reference_id IS NOT NULL"),
    )
    op.drop_index("ix_credit_transactions_user_id", table_name="credit_transactions")
    op.drop_index("ix_credit_transactions_type", table_name="credit_transactions")
    op.drop_index("ix_credit_transactions_created_at", table_name="credit_transactions")
    op.drop_table("credit_transactions")
    op.drop_index(op.f("ix_credentials_user_id"), table_name="credentials")
    op.drop_index(op.f("ix_credentials_type"), table_name="credentials")
    op.drop_table("credentials")
    op.drop_index("ix_author_royalties_year_month", table_name="author_royalties")
    op.drop_index(op.f("ix_author_royalties_status"), table_name="author_royalties")
    op.drop_index(op.f("ix_author_royalties_author_id"), table_name="author_royalties")
    op.drop_table("author_royalties")
    op.drop_table("users")
    op.drop_table("settlement_runs")
    op.drop_index("ix_ohlcv_data_timestamp_desc", table_name="ohlcv_data")
    op.drop_index("ix_ohlcv_data_symbol_timeframe_timestamp_desc", table_name="ohlcv_data")
    op.drop_table("ohlcv_data")
    op.drop_table("indexer_cursors")
    op.drop_index(
        "ix_chain_events_unprojected",
        table_name="chain_events",
        postgresql_where=sa.text("projection_status <> 'APPLIED'"),
    )
    op.drop_index("ix_chain_events_event_name", table_name="chain_events")
    op.drop_index("ix_chain_events_chain_id_block_number", table_name="chain_events")
    op.drop_table("chain_events")
    op.drop_table("chain_blocks")
