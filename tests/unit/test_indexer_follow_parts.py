"""Pure parts of the follow loop: progress and stalls, which failures wait, --until-block."""

from __future__ import annotations

import asyncpg
import click
import pytest
from sqlalchemy import exc as sa_exc
from structlog.testing import capture_logs

from indexer.cli import UntilBlock
from indexer.follower import ChainMoved, CursorMoved, ReorgTooDeep, is_transient
from indexer.progress import ProgressLog
from indexer.rpc import RpcUnavailable


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_progress_is_logged_every_interval_with_rates_head_cursor_and_lag() -> None:
    clock = Clock()
    progress = ProgressLog(every_seconds=10, clock=clock)
    with capture_logs() as logs:
        progress.record(head=1_000, cursor=100, finalized=90, blocks=0, events=0)
        clock.now += 10
        progress.record(head=1_000, cursor=600, finalized=590, blocks=500, events=50)

    assert logs == [
        {
            "event": "indexer progress",
            "log_level": "info",
            "head": 1_000,
            "cursor": 600,
            "finalized": 590,
            "lag": 400,
            "blocks_per_s": 50.0,
            "events_per_s": 5.0,
        }
    ]


def test_a_chain_ahead_with_nothing_indexed_for_an_interval_is_a_logged_stall() -> None:
    clock = Clock()
    progress = ProgressLog(every_seconds=5, clock=clock)
    with capture_logs() as logs:
        progress.record(head=50, cursor=40, finalized=30, blocks=0, events=0)
        clock.now += 6
        progress.record(head=52, cursor=40, finalized=30, blocks=0, events=0)

    assert [(entry["log_level"], entry["lag"]) for entry in logs] == [("warning", 12)]
    assert logs[0]["event"].startswith("indexer stalled")


def test_caught_up_and_idle_is_no_stall() -> None:
    clock = Clock()
    progress = ProgressLog(every_seconds=5, clock=clock)
    with capture_logs() as logs:
        progress.record(head=50, cursor=50, finalized=40, blocks=0, events=0)
        clock.now += 6
        progress.record(head=50, cursor=50, finalized=40, blocks=0, events=0)

    assert [entry["log_level"] for entry in logs] == ["info"]


@pytest.mark.parametrize(
    "error",
    [
        RpcUnavailable("eth_getLogs: gave up"),
        ChainMoved("block 7 changed"),
        ConnectionRefusedError(111, "refused"),
        TimeoutError(),
        sa_exc.OperationalError("SELECT 1", {}, asyncpg.CannotConnectNowError("starting up")),
        sa_exc.InterfaceError("SELECT 1", {}, Exception("connection is closed")),
        # As the driver raises them during the batch's COPY.
        asyncpg.AdminShutdownError("terminating connection due to administrator command"),
        asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
    ],
)
def test_the_node_or_the_database_being_away_is_waited_out(error: BaseException) -> None:
    assert is_transient(error)


@pytest.mark.parametrize(
    "error",
    [
        ReorgTooDeep("too deep", first_replaced=5, cursor=10),
        CursorMoved("another writer"),
        sa_exc.IntegrityError("INSERT", {}, Exception("duplicate key")),
        asyncpg.StringDataRightTruncationError("value too long for type character varying(66)"),
        ValueError("a bug"),
    ],
)
def test_what_waiting_cannot_mend_stops_the_step(error: BaseException) -> None:
    assert not is_transient(error)


@pytest.mark.parametrize(("given", "meant"), [("head", "head"), ("0", 0), ("123456", 123456)])
def test_until_block_takes_head_or_a_block_number(given: str, meant: object) -> None:
    assert UntilBlock().convert(given, None, None) == meant


@pytest.mark.parametrize("given", ["tip", "-1", "1.5", ""])
def test_until_block_refuses_anything_else(given: str) -> None:
    with pytest.raises(click.BadParameter):
        UntilBlock().convert(given, None, None)
