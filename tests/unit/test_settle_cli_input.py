"""`gr8d settle daily` / `gr8d settle royalties` refuse bad input with exit code 2 and one line,
before touching the database."""

from __future__ import annotations

import datetime as dt

import pytest
from click.testing import CliRunner

from settlement.cli import settle


def refusal(*arguments: str) -> tuple[int, list[str]]:
    result = CliRunner().invoke(settle, list(arguments), obj=None)
    return result.exit_code, result.stderr.splitlines()


@pytest.mark.parametrize(
    "arguments",
    [
        ("daily", "--day", "2026-02-30"),
        ("daily", "--day", "yesterday"),
        ("royalties", "--month", "2026-13"),
        ("royalties", "--month", "2026-11-01"),
    ],
)
def test_a_malformed_period_is_refused_with_one_line_and_exit_code_2(
    arguments: tuple[str, ...],
) -> None:
    code, lines = refusal(*arguments)

    assert code == 2
    assert len(lines) == 1
    assert arguments[1] in lines[0] and repr(arguments[2]) in lines[0]


@pytest.mark.parametrize("days_ahead", [0, 1])
def test_a_day_that_is_not_over_is_refused_rather_than_settled_early(days_ahead: int) -> None:
    """Settling today would close it: its later fills would be charged nowhere."""
    day = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=days_ahead)

    code, lines = refusal("daily", "--day", day.isoformat())

    assert code == 2
    assert lines == [f"gr8d settle daily: --day {day}: the day is not over yet (UTC)"]


def test_a_month_that_is_not_over_is_refused_rather_than_settled_early() -> None:
    today = dt.datetime.now(dt.UTC).date()
    month = f"{today.year:04d}-{today.month:02d}"

    code, lines = refusal("royalties", "--month", month)

    assert code == 2
    assert lines == [f"gr8d settle royalties: --month {month}: the month is not over yet (UTC)"]
