"""settlements: no index on user_id alone (the UNIQUE (user_id, strategy_id, day_index) leads
with it), and the UNIQUE onchain_settlement_id indexes only the settlements the chain knows.
Together ~10% of the daily run's settlements insert.

Revision ID: 0006_settlement_indexes
Revises: 0005_raw_when_undecoded
Create Date: 2026-11-24 06:05:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_settlement_indexes"
down_revision: str | None = "0005_raw_when_undecoded"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_settlements_user_id", table_name="settlements")
    op.drop_constraint("uq_settlements_onchain_settlement_id", "settlements", type_="unique")
    op.create_index(
        "uq_settlements_onchain_settlement_id",
        "settlements",
        ["onchain_settlement_id"],
        unique=True,
        postgresql_where=sa.text("onchain_settlement_id IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("uq_settlements_onchain_settlement_id", table_name="settlements")
    op.create_unique_constraint(
        "uq_settlements_onchain_settlement_id", "settlements", ["onchain_settlement_id"]
    )
    op.create_index("ix_settlements_user_id", "settlements", ["user_id"])
