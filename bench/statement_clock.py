"""Wall time of each SQL statement an engine runs, summed by kind (SQLAlchemy's cursor events)."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine


class StatementClock:
    """`classify` names the kind of a statement from its text, whitespace collapsed."""

    def __init__(self, classify: Callable[[str], str]) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self._classify = classify

    @contextmanager
    def attached(self, engine: AsyncEngine) -> Iterator[None]:
        listeners = (("before_cursor_execute", self._before), ("after_cursor_execute", self._after))
        for name, listener in listeners:
            event.listen(engine.sync_engine, name, listener)
        try:
            yield
        finally:
            for name, listener in listeners:
                event.remove(engine.sync_engine, name, listener)

    def _before(self, _c: Any, _cu: Any, _s: str, _p: Any, context: Any, _m: bool) -> None:
        context.bench_started = time.perf_counter()

    def _after(self, _c: Any, _cu: Any, statement: str, _p: Any, context: Any, _m: bool) -> None:
        kind = self._classify(" ".join(statement.split()))
        self.seconds[kind] += time.perf_counter() - context.bench_started
