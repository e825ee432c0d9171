"""Times the API takes in: ISO 8601 with a zone, held in UTC.

A time with a far offset near the ends of Python's range (year 1 at +14:00, year 9999 at
-14:00) is a valid datetime that has no UTC form; converting it (for the database driver, or
any comparison in UTC) overflows. It is refused here as a 422 rather than a 500 later."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime


def in_utc(moment: dt.datetime) -> dt.datetime:
    try:
        return moment.astimezone(dt.UTC)
    except OverflowError:
        raise ValueError("out of range once converted to UTC") from None


UtcDatetime = Annotated[AwareDatetime, AfterValidator(in_utc)]
