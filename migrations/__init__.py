"""Alembic migration history of the gr8d schema."""
