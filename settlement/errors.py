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


class SettlementNotFound(SettlementError):
    kind = ErrorKind.NOT_FOUND
    code = "SETTLEMENT_NOT_FOUND"

    def __init__(self, settlement_id: uuid.UUID) -> None:
        super().__init__(f"settlement {settlement_id} does not exist")
        self.settlement_id = settlement_id


class SettlementNotPending(SettlementError):
    code = "SETTLEMENT_NOT_PENDING"

    def __init__(self, settlement_id: uuid.UUID, status: str) -> None:
        super().__init__(f"settlement {settlement_id} is {status}, not PENDING")
        self.settlement_id = settlement_id
        self.status = status


class DayCommitNotFound(SettlementError):
    kind = ErrorKind.NOT_FOUND
    code = "DAY_COMMIT_NOT_FOUND"

    def __init__(self, strategy_id: uuid.UUID, day_index: int) -> None:
        super().__init__(f"strategy {strategy_id} has no Merkle root for day {day_index}")
        self.strategy_id = strategy_id
        self.day_index = day_index


class ExecutionNotFilled(SettlementError):
    """Only FILLED executions are leaves of a day's Merkle tree."""

    code = "EXECUTION_NOT_FILLED"

    def __init__(self, execution_id: uuid.UUID, status: str) -> None:
        super().__init__(f"execution {execution_id} is {status}; only FILLED ones have a proof")
        self.execution_id = execution_id
        self.status = status


class DayNotCommitted(SettlementError):
    """The execution's day is not settled yet, so there is no root to prove it against."""

    code = "DAY_NOT_COMMITTED"

    def __init__(self, execution_id: uuid.UUID, day: str) -> None:
        super().__init__(
            f"the Merkle root of {day} is not committed yet; execution {execution_id} has no "
            "proof until that day is settled"
        )
        self.execution_id = execution_id
        self.day = day


class CommittedRootMismatch(SettlementError):
    """The executions of a committed day no longer hash to its root (data changed after the
    day was settled); no proof is served that would not verify."""

    code = "COMMITTED_ROOT_MISMATCH"

    def __init__(self, strategy_id: uuid.UUID, day: str) -> None:
        super().__init__(
            f"the filled executions of strategy {strategy_id} on {day} no longer match the "
            "committed root"
        )
        self.strategy_id = strategy_id
        self.day = day


class MonthNotFinished(SettlementError):
    """A month's royalties are written once it is over: written earlier, the month's later
    clones would never be counted (a month is written once)."""

    code = "MONTH_NOT_FINISHED"

    def __init__(self, period: str) -> None:
        super().__init__(f"{period} is not over yet; its royalties can be previewed, not created")
        self.period = period


class DayNotFinished(SettlementError):
    """A day is settled once it is over: settled earlier, its later fills would be refused."""

    code = "DAY_NOT_FINISHED"

    def __init__(self, day: str) -> None:
        super().__init__(f"{day} is not over yet (UTC); it can be settled from tomorrow on")
        self.day = day
