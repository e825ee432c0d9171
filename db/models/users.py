"""Users, their credit balance and the credit ledger."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Identity,
    Index,
    Integer,
    String,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base, created_at, enum_check, updated_at, uuid_pk
from db.enums import TransactionType, values


class User(Base):
    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint("manual_tier BETWEEN 0 AND 5", name="manual_tier_range"),
        CheckConstraint("email = lower(email)", name="email_lower_case"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    email: Mapped[str] = mapped_column(String(255), nullable=False, unique=True)
    hashed_password: Mapped[str] = mapped_column(String(255), nullable=False)
    full_name: Mapped[str | None] = mapped_column(String(100))
    manual_tier: Mapped[int | None] = mapped_column(Integer)
    is_active: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("true"))
    is_superuser: Mapped[bool] = mapped_column(
        Boolean, nullable=False, server_default=text("false")
    )
    created_at: Mapped[dt.datetime] = created_at()
    updated_at: Mapped[dt.datetime] = updated_at()


class Credit(Base):
    """One row per user, inserted by the `create_credit_account` trigger with the user."""

    __tablename__ = "credits"
    __table_args__ = (CheckConstraint("balance >= 0", name="balance_not_negative"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    user_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="CASCADE"), nullable=False, unique=True
    )
    balance: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default=text("0"))
    created_at: Mapped[dt.datetime] = created_at()
    updated_at: Mapped[dt.datetime] = updated_at()


class CreditTransaction(Base):
    """The append-only ledger; write it only through `db.ledger`."""

    __tablename__ = "credit_transactions"
    __table_args__ = (
        CheckConstraint("amount <> 0", name="amount_not_zero"),
        CheckConstraint("balance_after >= 0", name="balance_after_not_negative"),
        CheckConstraint(enum_check("type", values(TransactionType)), name="type"),
        Index("ix_credit_transactions_type", "type"),
        Index(
            "uq_credit_transactions_user_id_type_reference_id",
            "user_id",
            "type",
            "reference_id",
            unique=True,
            postgresql_where=text("reference_id IS NOT NULL"),
        ),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    # Posting order. created_at cannot give it: now() is fixed per transaction, and a
    # transaction that started earlier may post later. Per user, postings are serialized by
    # the credits row lock, so `seq` orders them exactly as balance_after runs.
    seq: Mapped[int] = mapped_column(BigInteger, Identity(always=True), nullable=False, unique=True)
    user_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="RESTRICT"), nullable=False
    )
    amount: Mapped[int] = mapped_column(BigInteger, nullable=False)
    balance_after: Mapped[int] = mapped_column(BigInteger, nullable=False)
    type: Mapped[str] = mapped_column(String(50), nullable=False)
    reference_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    description: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = created_at()


# Newest-first history per user; its leading column is the user_id index schema.md asks for.
Index(
    "ix_credit_transactions_user_id",
    CreditTransaction.user_id,
    CreditTransaction.created_at.desc(),
)
Index("ix_credit_transactions_created_at", CreditTransaction.created_at.desc())
