"""indexer_reorgs: each chain reorganisation the indexer unwound, for /admin/indexer.

Revision ID: 0003_indexer_reorgs
Revises: 0002_indexer_projections
Create Date: 2026-11-24 03:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_indexer_reorgs"
down_revision: str | None = "0002_indexer_projections"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "indexer_reorgs",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("common_ancestor", sa.BigInteger(), nullable=False),
        sa.Column("replaced_to", sa.BigInteger(), nullable=False),
        sa.Column("depth", sa.Integer(), nullable=False),
        sa.Column("old_block_hash", sa.String(length=66), nullable=False),
        sa.Column(
            "detected_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("depth > 0", name=op.f("ck_indexer_reorgs_depth_positive")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_indexer_reorgs")),
    )
    op.create_index(
        "ix_indexer_reorgs_chain_id_detected_at",
        "indexer_reorgs",
        ["chain_id", sa.text("detected_at DESC")],
    )


def downgrade() -> None:
    op.drop_index("ix_indexer_reorgs_chain_id_detected_at", table_name="indexer_reorgs")
    op.drop_table("indexer_reorgs")
