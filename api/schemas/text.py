"""Strings PostgreSQL can store: TEXT and VARCHAR refuse the NUL character, so a body that
carries one is a 422 here rather than a database error."""

from __future__ import annotations

from typing import Annotated

from pydantic import StringConstraints

StoredText = Annotated[str, StringConstraints(pattern=r"^[^\x00]*$")]
