"""The indexer's progress, visible (chain.md, "Visible"): a structured log line every few
seconds with blocks/s, events/s, head, cursor, finalized block and lag, and a warning when the
chain is ahead but nothing moves (a stall is never silent)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import structlog

log = structlog.get_logger("gr8d.indexer")


@dataclass(frozen=True, slots=True)
class Figures:
    head: int
    cursor: int
    finalized: int
    lag: int
    blocks_per_second: float
    events_per_second: float


@dataclass
class ProgressLog:
    every_seconds: float = 10.0
    clock: Callable[[], float] = time.monotonic
    _since: float = field(default=-1.0, init=False)
    _blocks: int = field(default=0, init=False)
    _events: int = field(default=0, init=False)
    latest: Figures | None = field(default=None, init=False)

    def record(self, *, head: int, cursor: int, finalized: int, blocks: int, events: int) -> None:
        """One step's outcome: `blocks` and `events` newly indexed (0 when it only looked)."""
        now = self.clock()
        if self._since < 0:
            self._since = now
        self._blocks += blocks
        self._events += events
        elapsed = now - self._since
        self.latest = Figures(
            head=head,
            cursor=cursor,
            finalized=finalized,
            lag=max(0, head - cursor),
            blocks_per_second=round(self._blocks / elapsed, 1) if elapsed > 0 else 0.0,
            events_per_second=round(self._events / elapsed, 1) if elapsed > 0 else 0.0,
        )
        if elapsed >= self.every_seconds:
            self._emit(self.latest, moved=self._blocks > 0)
            self._since, self._blocks, self._events = now, 0, 0

    @staticmethod
    def _emit(figures: Figures, *, moved: bool) -> None:
        values = {
            "head": figures.head,
            "cursor": figures.cursor,
            "finalized": figures.finalized,
            "lag": figures.lag,
            "blocks_per_s": figures.blocks_per_second,
            "events_per_s": figures.events_per_second,
        }
        if figures.lag > 0 and not moved:
            log.warning("indexer stalled: the chain is ahead but no block was indexed", **values)
        else:
            log.info("indexer progress", **values)
