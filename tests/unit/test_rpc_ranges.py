"""Adaptive eth_getLogs ranges against in-memory providers with the limits real ones have."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import pytest

from indexer.ranges import LogChunk, LogRangeFetcher, RangePolicy, SpanTuner
from indexer.rpc import LogRangeRefused, RefusalKind


class Provider:
    """Logs at given blocks; refuses wide ranges and big answers as providers do."""

    def __init__(
        self,
        logs_per_block: dict[int, int],
        *,
        max_blocks: int | None = None,
        says_its_limit: bool = False,
        max_results: int | None = None,
    ) -> None:
        self.logs_per_block = logs_per_block
        self.max_blocks = max_blocks
        self.says_its_limit = says_its_limit
        self.max_results = max_results
        self.queries: list[tuple[int, int, bool]] = []  # (from, to, answered)

    async def logs(
        self,
        from_block: int,
        to_block: int,
        addresses: Sequence[str],
        topics: Sequence[str] = (),
    ) -> list[dict[str, Any]]:
        blocks = to_block - from_block + 1
        if self.max_blocks is not None and blocks > self.max_blocks:
            self.queries.append((from_block, to_block, False))
            if self.says_its_limit:
                message = f"You can make eth_getLogs requests with up to a {self.max_blocks} "
                raise LogRangeRefused(
                    message, kind=RefusalKind.BLOCK_RANGE, max_blocks=self.max_blocks
                )
            raise LogRangeRefused("block range too large", kind=RefusalKind.BLOCK_RANGE)
        found = [
            {"blockNumber": hex(number), "logIndex": hex(index)}
            for number in range(from_block, to_block + 1)
            for index in range(self.logs_per_block.get(number, 0))
        ]
        if self.max_results is not None and len(found) > self.max_results:
            self.queries.append((from_block, to_block, False))
            raise LogRangeRefused(
                f"query returned more than {self.max_results} results", kind=RefusalKind.RESULTS
            )
        self.queries.append((from_block, to_block, True))
        return found


async def _chunks(fetcher: LogRangeFetcher, start: int, end: int) -> list[LogChunk]:
    return [chunk async for chunk in fetcher.fetch(start, end)]


def _assert_covers(chunks: list[LogChunk], start: int, end: int) -> None:
    assert chunks[0].first == start and chunks[-1].last == end
    for before, after in itertools.pairwise(chunks):
        assert after.first == before.last + 1


async def test_a_public_monad_rpc_capped_at_100_blocks_still_yields_every_log() -> None:
    logs = {number: 1 for number in range(0, 5_000, 7)}
    provider = Provider(logs, max_blocks=100)
    fetcher = LogRangeFetcher(provider, ["0xc0ffee"])

    chunks = await _chunks(fetcher, 0, 4_999)

    _assert_covers(chunks, 0, 4_999)
    assert sum(len(chunk.logs) for chunk in chunks) == len(logs)
    assert all(chunk.last - chunk.first + 1 <= 100 for chunk in chunks)
    refused = [query for query in provider.queries if not query[2]]
    assert 0 < len(refused) <= 10, "the cap is learned once, not paid for on every chunk"
    assert fetcher.span == 100


async def test_a_range_too_wide_for_the_node_halves_down_from_the_first_query() -> None:
    provider = Provider({}, max_blocks=100)
    fetcher = LogRangeFetcher(provider, [], policy=RangePolicy(initial_blocks=1_000))

    chunks = await _chunks(fetcher, 1, 10_000)

    _assert_covers(chunks, 1, 10_000)
    assert [query[1] - query[0] + 1 for query in provider.queries[:4]] == [1000, 500, 250, 125]
    assert max(chunk.last - chunk.first + 1 for chunk in chunks) == 100
    assert len(chunks) <= 10_000 // 62 + 1


async def test_a_provider_that_names_its_limit_is_taken_at_its_word() -> None:
    provider = Provider({}, max_blocks=500, says_its_limit=True)
    fetcher = LogRangeFetcher(provider, [], policy=RangePolicy(initial_blocks=1_000))

    chunks = await _chunks(fetcher, 0, 4_999)

    assert [query[2] for query in provider.queries].count(False) == 1
    assert [chunk.last - chunk.first + 1 for chunk in chunks] == [500] * 10


async def test_the_range_grows_while_answers_are_small_up_to_the_ceiling() -> None:
    provider = Provider({})
    fetcher = LogRangeFetcher(provider, [], policy=RangePolicy(initial_blocks=10, max_blocks=80))

    chunks = await _chunks(fetcher, 0, 400)

    widths = [chunk.last - chunk.first + 1 for chunk in chunks]
    assert widths[:5] == [10, 20, 40, 80, 80]
    assert all(query[2] for query in provider.queries)


async def test_a_dense_stretch_narrows_the_range_and_it_widens_again_after() -> None:
    dense = {number: 30 for number in range(1_000, 1_050)}
    provider = Provider(dense, max_results=200)
    fetcher = LogRangeFetcher(provider, [], policy=RangePolicy(small_answer_logs=100))

    chunks = await _chunks(fetcher, 0, 3_000)

    _assert_covers(chunks, 0, 3_000)
    assert sum(len(chunk.logs) for chunk in chunks) == 50 * 30
    assert all(len(chunk.logs) <= 200 for chunk in chunks)
    assert chunks[-1].last - chunks[-1].first + 1 > 100


async def test_one_block_with_more_logs_than_the_provider_returns_is_raised() -> None:
    provider = Provider({5: 50}, max_results=10)
    fetcher = LogRangeFetcher(provider, [])

    with pytest.raises(LogRangeRefused):
        await _chunks(fetcher, 0, 10)


async def test_an_empty_range_yields_nothing() -> None:
    provider = Provider({})

    assert await _chunks(LogRangeFetcher(provider, []), 10, 9) == []
    assert provider.queries == []


def test_a_learned_cap_is_probed_again_after_many_chunks() -> None:
    tuner = SpanTuner(RangePolicy(initial_blocks=200, max_blocks=1_000, relearn_after_chunks=3))
    tuner.refused(200, LogRangeRefused("x", kind=RefusalKind.BLOCK_RANGE, max_blocks=100))
    assert tuner.span == 100

    for _ in range(3):
        tuner.answered(tuner.span, 0)

    assert tuner.span == 200


def test_a_limit_named_at_or_above_the_refused_width_still_narrows() -> None:
    tuner = SpanTuner(RangePolicy(initial_blocks=100))

    tuner.refused(100, LogRangeRefused("x", kind=RefusalKind.BLOCK_RANGE, max_blocks=100))

    assert tuner.span == 99


def test_a_bad_policy_is_refused() -> None:
    with pytest.raises(ValueError):
        RangePolicy(initial_blocks=2_000, max_blocks=1_000)
