"""PostgreSQL: models, engine, unit of work and the credit ledger."""
