"""chain_events: no index on event_name alone. Every reader of events by name also names the
chain and a key, which the partial indexes of 0002 cover (the pending-unstake view now names
the chain too), while the 23 names made it an index every stored log paid for and no plan used.

Revision ID: 0007_no_event_name_index
Revises: 0006_settlement_indexes
Create Date: 2026-11-24 07:30:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007_no_event_name_index"
down_revision: str | None = "0006_settlement_indexes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_chain_events_event_name", table_name="chain_events")


def downgrade() -> None:
    op.create_index("ix_chain_events_event_name", "chain_events", ["event_name"])
