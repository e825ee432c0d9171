"""indexer_cursors.events_indexed: how many events the indexer has written for the chain, grown
in each batch's transaction with its cursor. The API turns it and the cursor into events/s and
blocks/s for /metrics and the health endpoint (chain.md "Visible"), which run in other
processes than the indexer; counting chain_events at each scrape would read the whole table.

Revision ID: 0008_cursor_event_count
Revises: 0007_no_event_name_index
Create Date: 2026-11-24 08:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_cursor_event_count"
down_revision: str | None = "0007_no_event_name_index"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "indexer_cursors",
        sa.Column("events_indexed", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
    )


def downgrade() -> None:
    op.drop_column("indexer_cursors", "events_indexed")
