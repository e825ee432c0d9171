"""Statements built once: a SELECT whose values are bind parameters, and the values of one use.

Building a SQLAlchemy statement and its cache key costs more CPU than PostgreSQL spends running
a small query (a user's page of strategies: ~120 us to build, ~90 us for PostgreSQL to run and
send back), and a statement object keeps its cache key once computed. Hot list queries are
therefore built once per shape (functools.cache) with bindparam() where the values go, and bound
per use.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select


@dataclass(frozen=True, slots=True)
class BoundSelect:
    statement: Select[*tuple[Any, ...]]
    params: Mapping[str, Any]
