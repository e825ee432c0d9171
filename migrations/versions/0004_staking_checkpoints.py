"""staking_checkpoints: each wallet's running stake, so the staking projection no longer sums
the wallet's whole history every batch.

Revision ID: 0004_staking_checkpoints
Revises: 0003_indexer_reorgs
Create Date: 2026-11-24 05:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_staking_checkpoints"
down_revision: str | None = "0003_indexer_reorgs"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "staking_checkpoints",
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("wallet_address", sa.Text(), nullable=False),
        sa.Column("staked_wei", sa.Numeric(), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.Column("parked", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("chain_id", "wallet_address", name=op.f("pk_staking_checkpoints")),
    )


def downgrade() -> None:
    op.drop_table("staking_checkpoints")
