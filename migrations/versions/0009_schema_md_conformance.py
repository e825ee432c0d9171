"""Two gaps an audit against schema.md found.

credit_transactions is "the ledger; append-only", and the invariant balance = Σ amount with each
row's running balance_after rests on no row ever changing or going away; only db.ledger kept to
that. A row trigger now refuses UPDATE and DELETE. It fires on neither INSERT nor TRUNCATE, so
the posting paths pay nothing for it (a deliberate reset of a scratch database still truncates).

indexer_cursors.chain_id is the chain's own id, but the table was created with a one-column
integer key, which SQLAlchemy turns into a serial: a cursor written without its chain_id would
have been filed under chain 1, 2, ... The sequence default goes; a missing chain_id is refused.

Revision ID: 0009_schema_md_conformance
Revises: 0008_cursor_event_count
Create Date: 2026-11-24 08:30:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009_schema_md_conformance"
down_revision: str | None = "0008_cursor_event_count"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REFUSE_LEDGER_CHANGE = """
CREATE FUNCTION refuse_ledger_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION
        '% of a ledger row refused by "credit_transactions_append_only": the ledger is append-only',
        TG_OP
        USING ERRCODE = 'integrity_constraint_violation',
              CONSTRAINT = 'credit_transactions_append_only';
END $$
"""


def upgrade() -> None:
    op.execute(REFUSE_LEDGER_CHANGE)
    op.execute(
        "CREATE TRIGGER credit_transactions_append_only BEFORE UPDATE OR DELETE "
        "ON credit_transactions FOR EACH ROW EXECUTE FUNCTION refuse_ledger_change()"
    )
    op.execute("ALTER TABLE indexer_cursors ALTER COLUMN chain_id DROP DEFAULT")
    op.execute("DROP SEQUENCE indexer_cursors_chain_id_seq")


def downgrade() -> None:
    op.execute("CREATE SEQUENCE indexer_cursors_chain_id_seq OWNED BY indexer_cursors.chain_id")
    op.execute(
        "ALTER TABLE indexer_cursors ALTER COLUMN chain_id "
        "SET DEFAULT nextval('indexer_cursors_chain_id_seq'::regclass)"
    )
    op.execute("DROP TRIGGER credit_transactions_append_only ON credit_transactions")
    op.execute("DROP FUNCTION refuse_ledger_change()")
