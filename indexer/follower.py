"""Following the chain (chain.md, "Following the chain"): backfill, then tail the head.

Each step reads where the database says the indexer is, asks the node where the chain is, and
then does one of three things in one transaction: index the next batch of blocks (raw events,
their blocks, projections, the cursor), unwind the blocks a reorg replaced (back to the common
ancestor, cursor included), or nothing. A crash at any moment leaves the database at a step
boundary, and the next step starts from what the database says, so a restarted indexer ends
where an uninterrupted one does.

Finality: blocks at or below the node's ``finalized`` block (head − CONFIRMATIONS where the
node lacks the tag) are final. For the blocks after it every header is kept, so a reorg is
seen by parent hash (a new block whose parent is not the block stored below it) or by the hash
of an indexed block changing; the indexer then walks back to the common ancestor. A reorg
deeper than MAX_REORG_DEPTH, or one that replaces a final block, stops it (ReorgTooDeep) with
nothing deleted. A node that answers an older head is not a reorg: the block it calls its head
is compared with the one stored at that height.

Transient failures (the node, the database) pause the work, are logged, and are retried with
capped exponential backoff; nothing is written twice or skipped because every write is one
transaction fenced on the cursor (service.lock_position).

Read-ahead: while a batch is written, the next one is read from the node (headers, logs,
decoding) when it lies entirely at or below the final block, where no reorg can change it; the
next step uses that read only if it starts right after the block the cursor then names, with
that block's hash as its parent. The node and PostgreSQL then work at the same time, and a
backfill is bound by the slower of the two rather than by their sum.
"""

from __future__ import annotations

import asyncio
import gc
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import aiohttp
import asyncpg
import structlog
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db.uow import UnitOfWork
from gr8d.config import ConfigError
from indexer import projections, service
from indexer.deployments import Deployments
from indexer.events import decode_logs, event_table
from indexer.progress import ProgressLog
from indexer.ranges import BloomProbe, LogChunk, LogRangeFetcher, RangePolicy
from indexer.rpc import BlockHeader, JsonRpc, RpcError, RpcRejected
from indexer.service import CursorPosition

log = structlog.get_logger("gr8d.indexer")


class ReorgTooDeep(Exception):
    """The chain replaced more blocks than the indexer may unwind, or a final block.

    Nothing was deleted: an operator decides (a node on a wrong fork, a MAX_REORG_DEPTH too
    small for this chain).
    """

    def __init__(self, reason: str, *, first_replaced: int, cursor: int) -> None:
        super().__init__(reason)
        self.first_replaced = first_replaced
        self.cursor = cursor


class CursorMoved(Exception):
    """The cursor changed since this step read it: another process writes. Stop writing."""


class ChainMoved(Exception):
    """The node's answers within one step disagree (the chain moved while it was read)."""


class StepKind(StrEnum):
    INDEXED = "indexed"
    UNWOUND = "unwound"
    IDLE = "idle"


@dataclass(frozen=True, slots=True)
class StepResult:
    kind: StepKind
    head: int
    cursor: int  # the last indexed block after the step (start_block − 1 when none)
    finalized: int
    blocks: int = 0
    events: int = 0


@dataclass(frozen=True, slots=True)
class _Read:
    """What one batch read from the node: the last block the provider answered for (it may
    cut the range asked), the events and the headers the batch keeps."""

    end: int
    events: list[service.RawEvent]
    headers: dict[int, BlockHeader]


@dataclass
class _ReadAhead:
    """The next batch's read, started while the current batch is written."""

    start: int
    asked: int
    parent_hash: str  # the hash of the block the cursor names once the current batch commits
    task: asyncio.Task[_Read | None]

    def drop(self) -> None:
        self.task.cancel()
        # A read that failed before it was dropped must not be reported as never retrieved.
        self.task.add_done_callback(lambda task: task.cancelled() or task.exception())


@dataclass(frozen=True, slots=True)
class Progress:
    first_block: int
    last_block: int
    events: int
    batches: int


@dataclass(frozen=True, slots=True)
class Backoff:
    """Capped exponential backoff with full jitter (seconds)."""

    base: float = 0.2
    cap: float = 10.0

    def delay(self, attempt: int) -> float:
        return random.uniform(0, min(self.cap, self.base * 2**attempt))


def is_transient(error: BaseException) -> bool:
    """Failures that waiting can mend: the node, the network, the database being away."""
    if isinstance(error, RpcError | ChainMoved | aiohttp.ClientError | OSError | TimeoutError):
        return True
    if isinstance(error, sa_exc.OperationalError | sa_exc.InterfaceError | sa_exc.TimeoutError):
        return True
    if isinstance(error, sa_exc.DBAPIError):
        if error.connection_invalidated:
            return True
        state = str(getattr(error.orig, "sqlstate", "") or getattr(error.orig, "pgcode", ""))
        return state[:2] in _TRANSIENT_SQLSTATE_CLASSES
    # Raised as the driver's own by what runs on its connection directly (the batch's COPY).
    if isinstance(error, asyncpg.PostgresError):
        return str(error.sqlstate)[:2] in _TRANSIENT_SQLSTATE_CLASSES
    return False


# 08 connection, 40 serialization/deadlock, 53 resources, 57 operator intervention.
_TRANSIENT_SQLSTATE_CLASSES = frozenset({"08", "40", "53", "57"})


def describe(error: BaseException) -> str:
    text = str(error).splitlines()[0] if str(error) else ""
    return f"{type(error).__name__}: {text}"[:300]


@dataclass
class ChainFollower:
    rpc: JsonRpc
    session_factory: async_sessionmaker[AsyncSession]
    deployments: Deployments
    batch_blocks: int = 1_000  # at most; the span the provider accepts decides (ranges.py)
    confirmations: int = 10
    max_reorg_depth: int = 64
    poll_seconds: float = 0.4
    backoff: Backoff = field(default_factory=Backoff)
    progress: ProgressLog = field(default_factory=ProgressLog)
    on_step: Callable[[StepResult], None] | None = None
    ranges: RangePolicy | None = None
    _fetcher: LogRangeFetcher = field(init=False)
    _addresses: list[str] = field(init=False)
    _topics: list[str] = field(init=False)
    _blooms: BloomProbe = field(init=False)
    _logs_by_hash: bool = field(default=True, init=False)
    _ahead: _ReadAhead | None = field(default=None, init=False)
    _batch_blocks: str | None = field(default=None, init=False)  # of the step under way

    def __post_init__(self) -> None:
        self._addresses = list(self.deployments.contracts.values())
        # Only chain.md's events: the tokens' Transfer and Approval are not ours to keep.
        self._topics = list(event_table())
        self._fetcher = LogRangeFetcher(self.rpc, self._addresses, self._topics, policy=self.ranges)
        self._blooms = BloomProbe(self._addresses, self._topics)

    @property
    def chain_id(self) -> int:
        return self.deployments.chain_id

    async def check_chain(self) -> None:
        """The node must serve the chain the deployments file describes."""
        node_chain = await self.rpc.chain_id()
        if node_chain != self.deployments.chain_id:
            raise ConfigError(
                "RPC_URLS",
                f"the node serves chain {node_chain}, the deployments file chain "
                f"{self.deployments.chain_id}",
            )

    async def next_block(self) -> int:
        at = await self._position()
        return self.deployments.start_block if at is None else at.number + 1

    # -- running ------------------------------------------------------------------------------

    async def index_until(self, until_block: int) -> Progress:
        """Index every block up to `until_block` (inclusive), unwinding reorgs on the way;
        waits for the chain when it is not there yet."""
        first = await self.next_block()
        events = batches = 0
        try:
            while True:
                result = await self.step_with_retries(until_block)
                events += result.events
                batches += result.kind is StepKind.INDEXED
                if result.kind is StepKind.IDLE:
                    if result.cursor >= until_block:
                        return Progress(first, until_block, events, batches)
                    await asyncio.sleep(self.poll_seconds)
        finally:
            self._drop_ahead()

    async def follow(self) -> None:
        """Backfill, then follow the head until cancelled."""
        try:
            while True:
                result = await self.step_with_retries(None)
                if result.kind is StepKind.IDLE:
                    await asyncio.sleep(self.poll_seconds)
        finally:
            self._drop_ahead()

    async def step_with_retries(self, until_block: int | None) -> StepResult:
        """One step; transient failures are logged and retried with backoff until it works."""
        attempt = 0
        paused_at = 0.0
        while True:
            self._batch_blocks = None
            try:
                result = await self.step(until_block)
            except Exception as error:
                if not is_transient(error):
                    raise
                if attempt == 0:
                    paused_at = time.monotonic()
                attempt += 1
                # A chain that moved while read is read again at once, a few times.
                quick = isinstance(error, ChainMoved) and attempt <= 3
                delay = 0.05 if quick else self.backoff.delay(attempt)
                # The batch's own lines had its range bound; this one is logged after.
                where: dict[str, str] = (
                    {} if self._batch_blocks is None else {"blocks": self._batch_blocks}
                )
                log.warning(
                    "indexing paused; retrying",
                    **where,
                    error=describe(error),
                    attempt=attempt,
                    paused_seconds=round(time.monotonic() - paused_at, 1),
                    retry_in=round(delay, 2),
                )
                await asyncio.sleep(delay)
                continue
            if attempt:
                log.info(
                    "indexing resumed",
                    after_attempts=attempt,
                    paused_seconds=round(time.monotonic() - paused_at, 1),
                )
            self.progress.record(
                head=result.head,
                cursor=result.cursor,
                finalized=result.finalized,
                blocks=result.blocks,
                events=result.events,
            )
            if self.on_step is not None:
                self.on_step(result)
            return result

    # -- one step -----------------------------------------------------------------------------

    async def step(self, until_block: int | None = None) -> StepResult:
        at = await self._position()
        latest = await self._latest()
        node_final = await self._node_finalized(latest.number)
        limit = latest.number if until_block is None else min(latest.number, until_block)
        start = self.deployments.start_block if at is None else at.number + 1
        if start > limit:
            if at is not None:
                unwound = await self._check_indexed(at, latest)
                if unwound is not None:
                    return unwound
            return self._idle(at, latest.number)
        ahead = self._take_ahead(at, start, ceiling=min(limit, node_final))
        if ahead is not None:
            end = ahead.asked
        else:
            end = min(start + min(self.batch_blocks, self._fetcher.span) - 1, limit)
        self._batch_blocks = f"{start}-{end}"
        with structlog.contextvars.bound_contextvars(blocks=self._batch_blocks):
            return await self._index_batch(
                at, start, end, latest.number, node_final, ahead=ahead, limit=limit
            )

    async def _read(
        self, start: int, end: int, *, dense_from: int, follows: str | None
    ) -> _Read | None:
        """Headers, logs and decoded events of start..end; None when block `start` does not
        have `follows` (the hash of the block indexed last) as its parent: a reorg."""
        headers = await self._headers({start, *range(dense_from, end + 1)})
        for number in range(dense_from + 1, end + 1):
            if headers[number].parent_hash != headers[number - 1].hash:
                raise ChainMoved(f"block {number} does not follow block {number - 1}")
        if follows is not None and headers[start].parent_hash != follows:
            return None
        if self._addresses:
            # The provider may accept fewer blocks than asked: the batch is then the first
            # chunk.
            chunk = await anext(aiter(self._fetcher.fetch(start, end)))
        else:
            # No contract to index (chain.md: one missing from the deployments file is not
            # indexed): an empty address filter would ask for the logs of every contract.
            chunk = LogChunk(start, end, [])
        # In a thread: decoding a batch takes tens of milliseconds that the event loop
        # spends meanwhile on the batch being written.
        events = await asyncio.to_thread(_decoded, chunk.logs)
        # The last block's header too: it names the cursor, also when the range was cut.
        wanted = {chunk.last, *(e.block_number for e in events)}
        headers |= await self._headers(wanted - headers.keys())
        left_out = await self._logs_left_out(chunk, {e.block_number for e in events}, headers)
        if left_out:
            events = sorted(
                [*events, *await asyncio.to_thread(_decoded, left_out)], key=_chain_order
            )
        _refuse_mismatched(events, headers)
        return _Read(chunk.last, events, headers)

    async def _logs_left_out(
        self, chunk: LogChunk, logged: set[int], headers: dict[int, BlockHeader]
    ) -> list[dict[str, Any]]:
        """The logs of the blocks of the chunk whose logs bloom promises our logs the answer
        lacks, read by each block's hash (a node without that block answers an error, not an
        empty list): logs there mean the range came from a node behind that block (a
        load-balanced replica, a log index behind the head); none mean a false positive of
        the bloom. Reading the range again could meet the same replica, and the head moves
        on meanwhile. (Only the headers the batch holds anyway are checked: every block of
        the unfinalized window, the first and last of a final range.)"""
        found: list[dict[str, Any]] = []
        for number, header in sorted(headers.items()):
            if (
                chunk.first <= number <= chunk.last
                and number not in logged
                and header.logs_bloom is not None
                and self._blooms.may_contain(header.logs_bloom)
            ):
                block_logs = await self._block_logs(header)
                if block_logs:
                    log.warning(
                        "eth_getLogs left out the logs of a block (a node behind it "
                        "answered); read them by its hash",
                        block=number,
                        logs=len(block_logs),
                    )
                    found += block_logs
        return found

    async def _block_logs(self, header: BlockHeader) -> list[dict[str, Any]]:
        """Our logs of the block `header` is, by its hash; from a provider that refuses that
        filter (EIP-234), by the block's number alone (which a node behind it answers with
        none again: the best such a provider allows)."""
        if self._logs_by_hash:
            try:
                return await self.rpc.block_logs(header, self._addresses, self._topics)
            except RpcRejected as refused:
                log.warning(
                    "rpc node refuses eth_getLogs by block hash; asking by number from now on",
                    reason=str(refused),
                )
                self._logs_by_hash = False
        number = header.number
        found = await self.rpc.logs(number, number, self._addresses, self._topics)
        return [item for item in found if str(item.get("blockHash", "")).lower() == header.hash]

    def _read_ahead(self, start: int, parent_hash: str, *, ceiling: int) -> None:
        """Start reading the batch after the one being written, if it is entirely final
        (at or below `ceiling`, the lower of the limit and the node's final block)."""
        self._drop_ahead()
        asked = min(start + min(self.batch_blocks, self._fetcher.span) - 1, ceiling)
        if asked < start:
            return
        # Final from start to asked: the step that uses it has finalized = asked, so the
        # only headers it needs are start's, asked's and those of blocks with events.
        read = self._read(start, asked, dense_from=asked, follows=parent_hash)
        # The task copies the context it is created in: its lines name its own blocks, not
        # those of the batch being written.
        with structlog.contextvars.bound_contextvars(blocks=f"{start}-{asked}"):
            task = asyncio.create_task(read)
        self._ahead = _ReadAhead(start, asked, parent_hash, task)

    def _take_ahead(
        self, at: CursorPosition | None, start: int, *, ceiling: int
    ) -> _ReadAhead | None:
        """The read started ahead, if it is the read of this step (it starts right after the
        cursor's block, that block is its parent, and it is still within `ceiling`)."""
        ahead, self._ahead = self._ahead, None
        if ahead is None:
            return None
        if (
            at is not None
            and ahead.start == start == at.number + 1
            and ahead.parent_hash == at.hash
            and ahead.asked <= ceiling
        ):
            return ahead
        ahead.drop()
        return None

    def _drop_ahead(self) -> None:
        if self._ahead is not None:
            self._ahead.drop()
            self._ahead = None

    def _idle(self, at: CursorPosition | None, head: int) -> StepResult:
        if at is None:
            return StepResult(StepKind.IDLE, head, self.deployments.start_block - 1, 0)
        return StepResult(StepKind.IDLE, head, at.number, at.finalized)

    async def _check_indexed(self, at: CursorPosition, latest: BlockHeader) -> StepResult | None:
        """Nothing new to index: is what is indexed still the chain? The node's head (or our
        cursor, when the node is ahead) is compared with the block stored at that height; a
        node that is merely behind has the same block there."""
        if latest.number == at.number:
            height, node_hash = at.number, latest.hash
        elif latest.number > at.number:
            height, node_hash = at.number, (await self.rpc.block(at.number)).hash
        elif latest.number <= at.finalized:
            return None  # a node behind our last final block: wait for it
        else:
            height, node_hash = latest.number, latest.hash
        if height == at.number:
            stored_hash: str | None = at.hash
        else:
            stored_hash = (await self._stored_hashes(height, height)).get(height)
        if stored_hash in (None, node_hash):
            return None
        return await self._unwind(at, first_differing=height, head=latest.number)

    async def _index_batch(
        self,
        at: CursorPosition | None,
        start: int,
        end: int,
        head: int,
        node_final: int,
        *,
        ahead: _ReadAhead | None,
        limit: int,
    ) -> StepResult:
        finalized = max(at.finalized if at else 0, min(end, node_final))
        # Every header from the last final block on is kept (reorg checks); below it only
        # the blocks with events, and `start` to check it continues the indexed chain.
        dense_from = max(start, finalized)
        follows = at.hash if at is not None and at.number == start - 1 else None
        if ahead is not None:
            read = await ahead.task
        else:
            read = await self._read(start, end, dense_from=dense_from, follows=follows)
        if read is None:
            assert at is not None  # only a batch that continues the cursor can find a reorg
            # The block indexed last is no longer the parent of the next: a reorg.
            return await self._unwind(at, first_differing=at.number, head=head)
        events, headers, end = read.events, read.headers, read.end
        if end > finalized and (await self.rpc.block(end)).hash != headers[end].hash:
            raise ChainMoved(f"block {end} changed while its batch was read")
        kept = {e.block_number for e in events} | set(range(dense_from, end + 1))
        self._read_ahead(end + 1, headers[end].hash, ceiling=min(limit, node_final))

        async with UnitOfWork(self.session_factory) as uow:
            await self._fence(uow.session, at)
            await service.write_batch(
                uow.session,
                chain_id=self.chain_id,
                events=events,
                blocks={number: headers[number] for number in sorted(kept)},
                last=headers[end],
                finalized=finalized,
            )
            await service.forget_final_blocks(
                uow.session,
                chain_id=self.chain_id,
                first=at.finalized if at else self.deployments.start_block,
                below=finalized,
            )
            await projections.project_new(
                uow.session,
                chain_id=self.chain_id,
                first_block=start,
                last_block=end,
                finalized_block=finalized,
            )
            await projections.confirm_until(
                uow.session, chain_id=self.chain_id, finalized_block=finalized
            )
            await uow.commit()
        log.debug("indexed", events=len(events), head=head, finalized=finalized)
        return StepResult(
            StepKind.INDEXED, head, end, finalized, blocks=end - start + 1, events=len(events)
        )

    async def _unwind(self, at: CursorPosition, *, first_differing: int, head: int) -> StepResult:
        """Remove everything derived from the blocks after the common ancestor, in one
        transaction with the cursor (back to the ancestor)."""
        ancestor, ancestor_hash = await self._common_ancestor(at, first_differing)
        async with UnitOfWork(self.session_factory) as uow:
            await self._fence(uow.session, at)
            await projections.unwind_from(
                uow.session, chain_id=self.chain_id, block_number=ancestor + 1
            )
            if ancestor_hash is None:  # nothing indexed is left: as before the first batch
                await service.forget_cursor(uow.session, chain_id=self.chain_id)
            else:
                await service.rewind_cursor(
                    uow.session, chain_id=self.chain_id, number=ancestor, hash=ancestor_hash
                )
            await service.record_reorg(
                uow.session,
                chain_id=self.chain_id,
                common_ancestor=ancestor,
                replaced_to=at.number,
                old_block_hash=at.hash,
            )
            await uow.commit()
        log.warning(
            "chain reorganised: unwound the replaced blocks",
            depth=at.number - ancestor,
            common_ancestor=ancestor,
            replaced=f"{ancestor + 1}-{at.number}",
            old_cursor_hash=at.hash,
            head=head,
        )
        return StepResult(StepKind.UNWOUND, head, ancestor, at.finalized)

    async def _common_ancestor(
        self, at: CursorPosition, first_differing: int
    ) -> tuple[int, str | None]:
        """Walk back from a block whose stored hash the node no longer has to the highest
        block whose stored hash it still has: (its number, its hash). The hash is None when
        even the block before start_block differs (nothing indexed is on the chain)."""
        if first_differing <= at.finalized:
            raise self._too_deep(at, first_differing, f"final block {first_differing} changed")
        stored = await self._stored_hashes(at.finalized, at.number)
        ancestor = first_differing - 1
        while True:
            if at.number - ancestor > self.max_reorg_depth:
                raise self._too_deep(
                    at, first_differing, f"deeper than MAX_REORG_DEPTH={self.max_reorg_depth}"
                )
            if ancestor < self.deployments.start_block:
                return ancestor, None
            node_hash = (await self.rpc.block(ancestor)).hash
            known = stored.get(ancestor)
            if known == node_hash or (known is None and ancestor <= at.finalized):
                return ancestor, node_hash
            if ancestor <= at.finalized:
                raise self._too_deep(at, ancestor, f"final block {ancestor} was replaced")
            ancestor -= 1

    def _too_deep(self, at: CursorPosition, first: int, why: str) -> ReorgTooDeep:
        error = ReorgTooDeep(
            f"chain reorganisation at or below block {first} with the cursor at {at.number} "
            f"(final block {at.finalized}): {why}; nothing was deleted",
            first_replaced=first,
            cursor=at.number,
        )
        log.error("reorg too deep; the indexer stops", reason=str(error))
        return error

    # -- reading ------------------------------------------------------------------------------

    async def _position(self) -> CursorPosition | None:
        async with self.session_factory() as session:
            return await service.position(session, self.chain_id)

    async def _stored_hashes(self, first: int, last: int) -> dict[int, str]:
        async with self.session_factory() as session:
            return await service.block_hashes(
                session, chain_id=self.chain_id, first=first, last=last
            )

    async def _fence(self, session: AsyncSession, expected: CursorPosition | None) -> None:
        found = await service.lock_position(session, self.chain_id)
        if _place(found) != _place(expected):
            raise CursorMoved(f"the cursor is at {found}, this process expected {expected}")

    async def _latest(self) -> BlockHeader:
        """The node's own head block (not the highest head ever seen): a shorter new branch
        and a lagging node are told apart by its hash."""
        return await self.rpc.latest_block()

    async def _node_finalized(self, head: int) -> int:
        final = await self.rpc.finalized_block()
        number = head - self.confirmations if final is None else final.number
        return max(0, min(number, head))

    async def _headers(self, numbers: Iterable[int]) -> dict[int, BlockHeader]:
        return await self.rpc.blocks(numbers)


def _decoded(logs: list[dict[str, Any]]) -> list[service.RawEvent]:
    # Without the cyclic collector, as decode_logs: a batch's events are hundreds of
    # thousands of small acyclic objects, and the collections they set off cost a third.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return [service.RawEvent.of(item) for item in decode_logs(logs)]
    finally:
        if collecting:
            gc.enable()


def _chain_order(event: service.RawEvent) -> tuple[int, int]:
    return event.block_number, event.log_index


def _place(position: CursorPosition | None) -> tuple[int, str] | None:
    return None if position is None else (position.number, position.hash)


def _refuse_mismatched(events: list[service.RawEvent], headers: dict[int, BlockHeader]) -> None:
    """A log whose block hash is not its block's came from another branch: read again."""
    for event in events:
        if event.block_hash != headers[event.block_number].hash:
            raise ChainMoved(
                f"log {event.tx_hash}:{event.log_index} names block hash {event.block_hash}, "
                f"but block {event.block_number} is {headers[event.block_number].hash}"
            )
