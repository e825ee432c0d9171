"""What the market-data domain refuses; api/ maps these to HTTP."""

from __future__ import annotations

from gr8d.errors import DomainError


class DuplicateCandles(DomainError):
    """One upsert names the same (symbol, timeframe, timestamp) twice: which one is meant?"""

    code = "DUPLICATE_CANDLES"

    def __init__(self, positions: list[int]) -> None:
        shown = ", ".join(str(p) for p in positions[:10])
        super().__init__(f"candles at positions {shown} repeat an earlier candle's key")
        self.positions = positions


class InvalidTimeRange(DomainError):
    code = "INVALID_TIME_RANGE"

    def __init__(self) -> None:
        super().__init__("start must be before end")
