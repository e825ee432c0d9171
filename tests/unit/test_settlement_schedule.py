from __future__ import annotations

import datetime as dt
from typing import Any

from settlement.scheduled import (
    CATCH_UP_RETRY_MINUTES,
    DAILY_RUN_TIME,
    MONTHLY_RUN_TIME,
    SettlementJobs,
    build_scheduler,
    days_to_settle,
    months_to_settle,
    settling_date,
)
from settlement.service import Policy
from tests.factories import policy


def _next_fire(jobs: dict[str, Any], job_id: str, after: dt.datetime) -> dt.datetime:
    fire: dt.datetime = jobs[job_id].trigger.get_next_fire_time(None, after)
    return fire


def test_the_scheduler_fires_daily_monthly_hourly_and_retries_unfinished_periods() -> None:
    settlement_policy: Policy = policy()
    jobs_without_database = SettlementJobs(session_factory=None, policy=settlement_policy)  # type: ignore[arg-type]
    scheduler = build_scheduler(jobs_without_database)
    jobs = {job.id: job for job in scheduler.get_jobs()}
    after = dt.datetime(2026, 11, 23, 12, 5, tzinfo=dt.UTC)
    assert _next_fire(jobs, "daily", after) == dt.datetime(2026, 11, 24, 1, 0, tzinfo=dt.UTC)
    assert _next_fire(jobs, "monthly", after) == dt.datetime(2026, 12, 1, 2, 0, tzinfo=dt.UTC)
    assert _next_fire(jobs, "expiry", after) == dt.datetime(2026, 11, 23, 12, 30, tzinfo=dt.UTC)
    assert jobs["catch-up-retry"].trigger.interval == dt.timedelta(minutes=CATCH_UP_RETRY_MINUTES)


def test_a_day_is_due_at_one_and_a_month_at_two_in_the_morning_utc() -> None:
    first = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    start = dt.date(2026, 11, 29)

    def due(hour: int, minute: int) -> tuple[list[dt.date], list[str]]:
        now = first.replace(hour=hour, minute=minute)
        return (
            days_to_settle(start, settling_date(now, DAILY_RUN_TIME)),
            months_to_settle(start, settling_date(now, MONTHLY_RUN_TIME)),
        )

    assert due(0, 59) == ([dt.date(2026, 11, 29)], [])
    assert due(1, 0) == ([dt.date(2026, 11, 29), dt.date(2026, 11, 30)], [])
    assert due(1, 59)[1] == []
    assert due(2, 0)[1] == ["2026-11"]
    in_tokyo = dt.datetime(2026, 12, 1, 9, 30, tzinfo=dt.timezone(dt.timedelta(hours=9)))
    assert settling_date(in_tokyo, DAILY_RUN_TIME) == dt.date(2026, 11, 30)
