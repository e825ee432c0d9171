"""chain_events keeps a log's raw topics and data only when its args could not be stored: a
decoded log's args are its exact values, and storing both cost a third of the indexer's insert.

Revision ID: 0005_raw_when_undecoded
Revises: 0004_staking_checkpoints
Create Date: 2026-11-24 05:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005_raw_when_undecoded"
down_revision: str | None = "0004_staking_checkpoints"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.alter_column(
        "chain_events", "topics", existing_type=postgresql.JSONB(), nullable=True
    )
    op.alter_column("chain_events", "data", existing_type=sa.Text(), nullable=True)
    op.create_check_constraint(
        op.f("ck_chain_events_decoded_or_raw"),
        "chain_events",
        "args IS NOT NULL OR (topics IS NOT NULL AND data IS NOT NULL)",
    )


def downgrade() -> None:
    op.drop_constraint(op.f("ck_chain_events_decoded_or_raw"), "chain_events", type_="check")
    op.execute("UPDATE chain_events SET topics = '[]' WHERE topics IS NULL")
    op.execute("UPDATE chain_events SET data = '0x' WHERE data IS NULL")
    op.alter_column("chain_events", "data", existing_type=sa.Text(), nullable=False)
    op.alter_column(
        "chain_events", "topics", existing_type=postgresql.JSONB(), nullable=False
    )
