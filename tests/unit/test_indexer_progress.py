"""The API's view of the indexer's speed (indexer/status.py ProgressMeter): pure arithmetic over
the cursor and the events count seen at each look."""

from __future__ import annotations

from indexer.status import ChainStatus, ProgressMeter, Rates


def status(block: int, events: int, chain_id: int = 1) -> ChainStatus:
    return ChainStatus(
        chain_id=chain_id,
        last_block=block,
        last_block_hash="0x",
        last_block_time=None,
        finalized_block=0,
        head_block=block,
        head_source="database",
        lag_blocks=0,
        lag_seconds=None,
        events_not_applied=0,
        events_indexed=events,
    )


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_rates_need_two_looks_a_few_seconds_apart() -> None:
    clock = Clock()
    meter = ProgressMeter(clock=clock)
    assert meter.rates(status(10, 100)) == Rates(None, None)
    clock.now = 2
    assert meter.rates(status(12, 150)) == Rates(None, None)
    clock.now = 10
    assert meter.rates(status(30, 1_100)) == Rates(2.0, 100.0)


def test_rates_cover_about_the_last_minute_and_chains_apart() -> None:
    clock = Clock()
    meter = ProgressMeter(clock=clock)
    for second in range(0, 121, 15):
        clock.now = second
        fast = meter.rates(status(second * 10, second * 1_000, chain_id=1))
        idle = meter.rates(status(7, 70, chain_id=2))
    # The first 45 s ran at 10 blocks/s, the rest too: the window sees only the rate, not when.
    assert fast == Rates(10.0, 1_000.0)
    assert idle == Rates(0.0, 0.0)
    clock.now = 135
    slowed = meter.rates(status(1_200, 120_000, chain_id=1))
    assert slowed.blocks_per_second is not None and slowed.blocks_per_second < 10


def test_a_cursor_moved_back_by_an_unwind_is_no_progress() -> None:
    clock = Clock()
    meter = ProgressMeter(clock=clock)
    meter.rates(status(100, 1_000))
    clock.now = 10
    assert meter.rates(status(90, 1_000)) == Rates(0.0, 0.0)


def test_looks_rarer_than_the_window_still_get_the_average_since_the_last_one() -> None:
    clock = Clock()
    meter = ProgressMeter(clock=clock)
    meter.rates(status(0, 0))
    clock.now = 300
    assert meter.rates(status(600, 3_000)) == Rates(2.0, 10.0)
