"""What the settlement services refuse; api/ maps these to HTTP."""

from __future__ import annotations

import uuid

from gr8d.errors import DomainError, ErrorKind


class SettlementError(DomainError):
    kind = ErrorKind.CONFLICT
    code = "SETTLEMENT_REFUSED"


class RoyaltyNotFound(SettlementError):
    kind = ErrorKind.NOT_FOUND
    code = "ROYALTY_NOT_FOUND"

    def __init__(self, royalty_id: uuid.UUID) -> None:
        super().__init__(f"royalty {royalty_id} does not exist")
        self.royalty_id = royalty_id


class RoyaltyNotPayable(SettlementError):
    code = "ROYALTY_NOT_PENDING"

    def __init__(self, royalty_id: uuid.UUID, status: str) -> None:
        super().__init__(f"royalty {royalty_id} is {status}, not PENDING")
        self.royalty_id = royalty_id
        self.status = status


class PeriodNotFinal(SettlementError):
    """The indexer has not yet finalized the chain past the end of the period."""

    code = "PERIOD_NOT_FINAL"

    def __init__(self, period: str) -> None:
        super().__init__(f"the chain is not final past the end of {period} yet")
        self.period = period


class ConcurrentSettlement(SettlementError):
    """Another writer settled part of the day while this run computed it; nothing is kept."""

    code = "CONCURRENT_SETTLEMENT"

    def __init__(self, period: str) -> None:
        super().__init__(f"settlements of {period} were written concurrently; run it again")
        self.period = period
