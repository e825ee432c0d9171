from __future__ import annotations

import datetime as dt
from typing import Any

from settlement.scheduled import CATCH_UP_RETRY_MINUTES, SettlementJobs, build_scheduler
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
