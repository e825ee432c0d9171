"""eth_getLogs over any block range, in chunks sized to what the provider accepts.

chain.md ("Adaptive ranges"): the range grows while answers are small and shrinks when a
provider refuses (a block-range cap, too many results, a response too big, a timeout). Public
Monad RPCs cap a query at 100 blocks and Monad nodes at 1,000 by default, so the first query
asks 100 blocks and no query asks more than 1,000. A provider that names its limit ("up to a
500 block range", "this block range should work: [a, b]") is taken at its word; one that does
not ("block range too large") is narrowed down by bisection between the largest span that
worked and the smallest that was refused, so a fixed cap costs a handful of refused queries
once, not one per chunk.

Chunks come out in block order and cover the asked range exactly, one at a time, so the caller
can write one database batch per chunk and memory stays flat however wide the range.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

import structlog
from sha3 import keccak_256

from indexer.rpc import LogRangeRefused, RefusalKind

log = structlog.get_logger("gr8d.indexer.ranges")


@dataclass(frozen=True, slots=True)
class RangePolicy:
    initial_blocks: int = 100  # public Monad RPCs' cap
    max_blocks: int = 1_000  # Monad nodes' default cap
    small_answer_logs: int = 1_000  # an answer with fewer logs lets the range grow
    growth: int = 2
    relearn_after_chunks: int = 10_000  # a learned cap is forgotten (and probed) after this

    def __post_init__(self) -> None:
        if not 1 <= self.initial_blocks <= self.max_blocks:
            raise ValueError("need 1 <= initial_blocks <= max_blocks")
        if self.growth < 2:
            raise ValueError("growth must be at least 2")


class LogSource(Protocol):
    """What the fetcher needs of indexer.rpc.JsonRpc."""

    async def logs(
        self,
        from_block: int,
        to_block: int,
        addresses: Sequence[str],
        topics: Sequence[str] = (),
    ) -> list[dict[str, Any]]: ...


class LogChunk(NamedTuple):
    first: int  # first block of the chunk
    last: int  # last block, inclusive
    logs: list[dict[str, Any]]


class SpanTuner:
    """How many blocks the next query asks for (pure bookkeeping, no I/O)."""

    def __init__(self, policy: RangePolicy) -> None:
        self._policy = policy
        self.span = policy.initial_blocks
        self._cap = policy.max_blocks  # no query asks more blocks than this
        self._largest_ok = 0  # the widest query answered since the cap was learned
        self._chunks_since_cap = 0

    def answered(self, blocks: int, logs: int) -> None:
        """A query of ``blocks`` blocks brought ``logs`` logs."""
        self._largest_ok = max(self._largest_ok, blocks)
        self._chunks_since_cap += 1
        if self._cap < self._policy.max_blocks and (
            self._chunks_since_cap >= self._policy.relearn_after_chunks
        ):
            self._cap, self._largest_ok = self._policy.max_blocks, blocks
        if blocks >= self.span and logs < self._policy.small_answer_logs:
            self.span = self._grown()

    def refused(self, blocks: int, refusal: LogRangeRefused) -> None:
        """A query of ``blocks`` (> 1) blocks was refused for its size."""
        hint = refusal.max_blocks if refusal.max_blocks and refusal.max_blocks > 0 else None
        if refusal.kind is RefusalKind.BLOCK_RANGE:
            self._cap = max(1, min(self._cap, hint or blocks - 1, blocks - 1))
            self._largest_ok = min(self._largest_ok, self._cap)
            self._chunks_since_cap = 0
            self.span = self._cap if hint else self._between(self._largest_ok, blocks)
        else:
            self.span = max(1, min(hint or blocks // 2, blocks - 1))

    def _grown(self) -> int:
        wanted = self.span * self._policy.growth
        if wanted <= self._cap or self._largest_ok >= self._cap:
            return min(wanted, self._cap)
        # The cap was learned from a refusal without a number: bisect towards it.
        return self._between(max(self.span, self._largest_ok), self._cap + 1)

    @staticmethod
    def _between(worked: int, refused: int) -> int:
        """A span between one known to work and one known to be refused (bisection)."""
        if worked <= 0:
            return max(1, refused // 2)
        return max(1, min(refused - 1, (worked + refused) // 2))


class LogRangeFetcher:
    """Logs of ``addresses`` (topic0 in ``topics`` when given) over block ranges.

    Keep one per follower: what it learns about the provider's limits carries over from one
    ``fetch`` to the next.
    """

    def __init__(
        self,
        rpc: LogSource,
        addresses: Sequence[str],
        topics: Sequence[str] = (),
        *,
        policy: RangePolicy | None = None,
    ) -> None:
        self._rpc = rpc
        self._addresses = list(addresses)
        self._topics = list(topics)
        self._tuner = SpanTuner(policy or RangePolicy())

    @property
    def span(self) -> int:
        """The number of blocks the next query will ask for."""
        return self._tuner.span

    async def fetch(self, start: int, end: int) -> AsyncIterator[LogChunk]:
        """Chunks covering ``start``..``end`` (inclusive), in order, each with its logs.

        A refusal of a single block (more logs in one block than the provider will return)
        cannot be split and is raised; transient faults are the client's to retry, and
        RpcUnavailable / RpcRejected pass through.
        """
        first = start
        while first <= end:
            last = min(end, first + self._tuner.span - 1)
            try:
                logs = await self._rpc.logs(first, last, self._addresses, self._topics)
            except LogRangeRefused as refusal:
                if last == first:
                    raise
                self._tuner.refused(last - first + 1, refusal)
                log.info(
                    "eth_getLogs range refused",
                    blocks=last - first + 1,
                    kind=str(refusal.kind),
                    next_blocks=self._tuner.span,
                    reason=str(refusal),
                )
                continue
            self._tuner.answered(last - first + 1, len(logs))
            yield LogChunk(first, last, logs)
            first = last + 1


def bloom_may_contain(bloom: str, addresses: Sequence[str], topics: Sequence[str] = ()) -> bool:
    """Whether a block's logs bloom allows a log of one of ``addresses`` (with topic0 in
    ``topics`` when given): False proves the block has none; True only says it may.

    A node that answers fewer logs than a block's bloom promises may be behind that block:
    the caller reads the block again by its hash (a node without it answers an error, not an
    empty list), which tells such a node from one of the bloom's false positives.
    """
    return BloomProbe(addresses, topics).may_contain(bloom)


class BloomProbe:
    """:func:`bloom_may_contain` for fixed addresses and topics, their bits computed once."""

    def __init__(self, addresses: Sequence[str], topics: Sequence[str] = ()) -> None:
        self._addresses = [_bloom_mask(address) for address in addresses]
        self._topics = [_bloom_mask(topic) for topic in topics]

    def may_contain(self, bloom: str) -> bool:
        bits = int(bloom, 16)
        if not any(bits & mask == mask for mask in self._addresses):
            return False
        return not self._topics or any(bits & mask == mask for mask in self._topics)


def _bloom_mask(value: str) -> int:
    """The three bloom bits of an address or topic (Yellow paper: three 11-bit indices from
    the first six bytes of its Keccak hash), as one integer."""
    digest = keccak_256(bytes.fromhex(value.removeprefix("0x"))).digest()
    mask = 0
    for index in (0, 2, 4):
        mask |= 1 << (int.from_bytes(digest[index : index + 2], "big") & 2047)
    return mask
