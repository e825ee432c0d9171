"""Bodies of the executions area: listing, the engine's reports, Merkle proofs."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from api.pagination import PageQuery
from api.schemas.market import Symbol
from api.schemas.times import UtcDatetime
from db.enums import ExecutionStatus, OrderSide, OrderType
from db.models import Execution
from settlement.proofs import ExecutionProof
from strategies.executions import ExecutionReport, Recorded

# NUMERIC(20,8): twelve digits before the point, eight after.
Quantity = Annotated[Decimal, Field(gt=0, max_digits=20, decimal_places=8)]
SignedQuantity = Annotated[Decimal, Field(max_digits=20, decimal_places=8)]


class ExecutionOut(BaseModel):
    id: uuid.UUID
    user_id: uuid.UUID
    strategy_id: uuid.UUID
    symbol: str
    side: OrderSide
    order_type: OrderType
    amount: Decimal
    price: Decimal | None
    executed_price: Decimal | None
    status: ExecutionStatus
    exchange_order_id: str | None
    fee: Decimal | None
    error_message: str | None
    created_at: dt.datetime
    executed_at: dt.datetime | None

    @classmethod
    def from_row(cls, row: Execution) -> ExecutionOut:
        return cls(
            id=row.id,
            user_id=row.user_id,
            strategy_id=row.strategy_id,
            symbol=row.symbol,
            side=OrderSide(row.side),
            order_type=OrderType(row.order_type),
            amount=row.amount,
            price=row.price,
            executed_price=row.executed_price,
            status=ExecutionStatus(row.status),
            exchange_order_id=row.exchange_order_id,
            fee=row.fee,
            error_message=row.error_message,
            created_at=row.created_at,
            executed_at=row.executed_at,
        )


class ExecutionQuery(PageQuery):
    strategy: uuid.UUID | None = None
    status: ExecutionStatus | None = None
    since: UtcDatetime | None = Field(
        default=None, alias="from", description="created at or after (ISO 8601 with zone)"
    )
    until: UtcDatetime | None = Field(
        default=None, alias="to", description="created before (ISO 8601 with zone)"
    )

    @model_validator(mode="after")
    def _ordered(self) -> ExecutionQuery:
        if self.since is not None and self.until is not None and self.since >= self.until:
            raise ValueError("`from` must be before `to`")
        return self


class ExecutionReportIn(BaseModel):
    """What the trading engine knows about one order now. Send it again whenever it changes;
    a field left out (or null) keeps its stored value."""

    model_config = ConfigDict(extra="forbid")

    exchange_order_id: str = Field(min_length=1, max_length=100, pattern=r"^[\x21-\x7e]+$")
    user_id: uuid.UUID
    strategy_id: uuid.UUID
    symbol: Symbol
    side: OrderSide
    order_type: OrderType
    amount: Quantity
    status: ExecutionStatus = ExecutionStatus.PENDING
    price: Quantity | None = None
    executed_price: Quantity | None = None
    executed_at: AwareDatetime | None = None
    fee: SignedQuantity | None = None
    error_message: str | None = Field(default=None, max_length=2000, pattern=r"^[^\x00]*$")

    def report(self) -> ExecutionReport:
        return ExecutionReport(**self.model_dump())


class ExecutionRecordedOut(BaseModel):
    created: bool = Field(description="the report created the execution")
    changed: bool = Field(description="the report changed something (false for a repeat)")
    execution: ExecutionOut

    @classmethod
    def of(cls, recorded: Recorded) -> ExecutionRecordedOut:
        return cls(
            created=recorded.created,
            changed=recorded.changed,
            execution=ExecutionOut.from_row(recorded.execution),
        )


class ExecutionProofOut(BaseModel):
    """Verifies with `MerkleProof.verify(proof, root, leaf)` on chain, and with
    `StandardMerkleTree.verify(root, leaf_encoding, leaf_values, proof)` of
    @openzeppelin/merkle-tree off chain."""

    execution_id: uuid.UUID
    strategy_id: uuid.UUID
    day_index: int
    leaf_encoding: list[str]
    leaf_values: list[str] = Field(
        description="execution id, user id (bytes16 hex), side (0 BUY / 1 SELL), amount × 10^8, "
        "executed price × 10^8, executed at (unix seconds)"
    )
    leaf: str = Field(description="the leaf hash (0x hex)")
    proof: list[str]
    root: str
    leaf_count: int
    onchain_tx_hash: str | None = Field(description="the commitDay transaction, once relayed")

    @classmethod
    def of(cls, proof: ExecutionProof) -> ExecutionProofOut:
        return cls(
            execution_id=proof.execution_id,
            strategy_id=proof.strategy_id,
            day_index=proof.day_index,
            leaf_encoding=list(proof.leaf_encoding),
            leaf_values=list(proof.leaf_values),
            leaf=proof.leaf,
            proof=proof.proof,
            root=proof.root,
            leaf_count=proof.leaf_count,
            onchain_tx_hash=proof.onchain_tx_hash,
        )
