"""A small, resilient JSON-RPC client for the few calls the indexer makes (no web3 objects per
log).

Faults a node or the network can throw at us (chain.md, "Faults") are retried with capped
exponential backoff and full jitter (tenacity's ``wait_random_exponential``): timeouts, 5xx,
429 (its Retry-After is honoured), dropped connections, truncated or malformed answers,
JSON-RPC errors that are the server's trouble rather than ours, and ``null`` for a block that
should exist. With several URLs a failure moves the next attempt to the next URL, and the
first URL is tried again once ``failback_after`` seconds have passed. What retrying cannot mend
(bad params, an unknown method) surfaces at once as ``RpcRejected``; a log query refused for
its size surfaces as ``LogRangeRefused`` so that the caller (indexer/ranges.py) can split it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import email.utils
import itertools
import json
import re
import time
from collections.abc import Callable, Coroutine, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final, NoReturn
from urllib.parse import urlsplit

import aiohttp
import structlog
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    RetryError,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random_exponential,
)

log = structlog.get_logger("gr8d.indexer.rpc")

GET_LOGS: Final = "eth_getLogs"
BLOCK_BY_NUMBER: Final = "eth_getBlockByNumber"
# Headers asked in one JSON-RPC batch request (providers cap batches at 50 to 1,000 calls).
HEADERS_PER_REQUEST: Final = 50
BATCHES_AT_ONCE: Final = 4
# Answers at least this large are parsed and checked in a worker thread.
PARSED_APART_BYTES: Final = 256 * 1024
# JSON-RPC codes that say the request itself is wrong: asking again cannot help.
INVALID_REQUEST, METHOD_NOT_FOUND, INVALID_PARAMS = -32600, -32601, -32602
EXECUTION_REVERTED = 3
_REJECTING_CODES: Final = frozenset(
    {INVALID_REQUEST, METHOD_NOT_FOUND, INVALID_PARAMS, EXECUTION_REVERTED}
)


class RpcError(Exception):
    """Something went wrong talking to the node (the base of every error of this module)."""


class RpcTransient(RpcError):
    """One attempt failed in a way that another attempt (or another URL) may not."""

    def __init__(
        self, reason: str, *, retry_after: float | None = None, unreachable: bool = False
    ) -> None:
        super().__init__(reason)
        self.retry_after = retry_after
        self.unreachable = unreachable  # no connection at all: the node is down or misnamed


class RpcTimeout(RpcTransient):
    """The node did not answer within the request timeout."""


class RpcUnavailable(RpcError):
    """Every attempt on every URL failed; ``__cause__`` is the last failure."""


class RpcRejected(RpcError):
    """The node refused the request itself (bad params, unknown method): not retried."""

    def __init__(self, reason: str, *, code: int | None = None) -> None:
        super().__init__(reason)
        self.code = code


class RefusalKind(StrEnum):
    BLOCK_RANGE = "block range"  # the provider caps the number of blocks per query
    RESULTS = "results"  # too many logs, or too many bytes, for one answer
    TIMEOUT = "timeout"  # the query took too long


class LogRangeRefused(RpcError):
    """eth_getLogs refused for its size: ask again over a smaller range.

    ``max_blocks`` is the number of blocks the provider said it accepts, when it said so.
    """

    def __init__(self, reason: str, *, kind: RefusalKind, max_blocks: int | None = None) -> None:
        super().__init__(reason)
        self.kind = kind
        self.max_blocks = max_blocks


@dataclass(frozen=True, slots=True)
class BlockHeader:
    number: int
    hash: str
    parent_hash: str
    timestamp: int
    logs_bloom: str | None = None  # 0x + 512 hex digits, when the node sent it


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How hard to try. Tests shrink the delays; production keeps the defaults."""

    attempts: int = 12  # per call, over all URLs
    base_delay: float = 0.25  # the first backoff window (seconds); it doubles per attempt
    max_delay: float = 10.0  # the cap of the window
    max_retry_after: float = 60.0  # a longer Retry-After is cut to this
    request_timeout: float = 30.0
    failback_after: float = 60.0  # seconds on another URL before the first is tried again


# --- pure helpers -------------------------------------------------------------------------


def parse_retry_after(value: str | None, *, now: dt.datetime) -> float | None:
    """Seconds to wait from a Retry-After header: delay-seconds or an HTTP-date (RFC 9110).

    Fractions of a second are accepted (some proxies send them); junk and absence give None.
    """
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
        return max(0.0, (when - now).total_seconds())
    return max(0.0, seconds) if seconds == seconds else None  # NaN is junk


def backoff_wait(policy: RetryPolicy) -> wait_random_exponential:
    """Full jitter: a uniform wait in [0, min(max_delay, base_delay · 2^(attempt−1))]."""
    return wait_random_exponential(multiplier=policy.base_delay, max=policy.max_delay)


def endpoint_label(url: str) -> str:
    """scheme://host:port of a URL: providers put API keys in paths and queries, logs don't."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    return f"{parts.scheme}://{host}" + (f":{parts.port}" if parts.port else "")


_NUMBER = r"(\d[\d,.]*)"
# eth_getLogs refusals of common providers (geth, erigon, reth, Monad, Alchemy, Infura,
# QuickNode, Ankr, Chainstack, BlockPI, Cloudflare, thirdweb, Moonbeam/Frontier, Avalanche,
# Arbitrum, ...). A captured number is the provider's limit in blocks.
_RANGE_LIMITS: Final = tuple(
    re.compile(pattern)
    for pattern in (
        rf"range \d+ exceeds limit of {_NUMBER}",
        rf"range \d+ is bigger than range limit {_NUMBER}",
        rf"maximum is set to {_NUMBER}",
        rf"max(?:imum)? block range(?: = |: | is | of |\s){_NUMBER}",
        rf"max range: {_NUMBER}",
        rf"maximum allowed number of requested blocks is {_NUMBER}",
        rf"up to a {_NUMBER} block range",
        rf"limited to (?:a )?{_NUMBER}(?:[ -]block)?",
        rf"limit the query to at most {_NUMBER} blocks",
        rf"block range is too wide \(maximum {_NUMBER}\)",
        rf"maximum \[from, to\] blocks distance: {_NUMBER}",
        rf"exceed(?:s|ed)? (?:the )?max(?:imum)? block range:? {_NUMBER}",
        rf"block range exceeds {_NUMBER}",
        rf"block range greater than {_NUMBER}",
        rf"query must be smaller than size {_NUMBER}",
        rf"max is {_NUMBER}k blocks",
        r"block range (?:is )?too (?:large|wide|high|big)",
        r"block range limit exceeded",
        r"range threshold exceeded",
        r"(?:larger|greater) than (?:the )?max(?:imum)? (?:allowed )?block range",
        r"too many blocks",
        r"exceeds? (?:the )?(?:max|maximum) (?:allowed )?(?:block )?range",
    )
)
_RESULT_LIMITS: Final = tuple(
    re.compile(pattern)
    for pattern in (
        r"query returned more than \d+ results",
        r"logs matched by query exceeds limit",
        r"query exceeds max results",
        r"too many (?:results|logs)",
        r"log response size exceeded",
        r"response (?:is )?too (?:big|large)",
        r"response size (?:should not|exceed|is larger)",
        r"exceeds? (?:the )?max(?:imum)? (?:response|result)",
        r"result (?:set )?(?:is )?too large",
    )
)
_TIMEOUTS: Final = re.compile(
    r"timed? ?out|timeout|deadline exceeded|query duration must not exceed|took too long"
)
_SUGGESTED_RANGE: Final = re.compile(
    r"(?:try with this block range|block range should work):? "
    r"\[(0x[0-9a-f]+),\s*(0x[0-9a-f]+)\]"
)
# Errors with a "bad request" code that are really a lagging or busy node.
_TRANSIENT_DESPITE_CODE: Final = re.compile(
    r"beyond (?:the )?current head|header not found|unknown block|block not found|"
    r"after last accepted block|rate limit|too many requests|capacity|try again|busy|"
    r"temporar|unavailable"
)
# How nodes without the `finalized` tag (pre-merge geth, erigon, others) answer for it.
_MISSING_TAG: Final = re.compile(r"finalized|unknown block|not found|invalid block|unsupported")
_REJECTING_MESSAGE: Final = re.compile(
    r"method not found|does not exist/is not available|not supported|invalid argument|"
    r"invalid params|unsupported method"
)


def _limit_of(match: re.Match[str]) -> int | None:
    if not match.groups():
        return None
    digits = match.group(1).replace(",", "").replace(".", "")
    limit = int(digits) * (1000 if match.re.pattern.endswith("k blocks") else 1)
    return limit if limit > 0 else None


def classify_logs_refusal(message: str, *, blocks: int) -> LogRangeRefused | None:
    """The refusal an eth_getLogs error message stands for, or None when it is not one.

    ``blocks`` is the size of the refused range; a timeout of a single block is not a refusal
    (it cannot be split) and is left to the retries.
    """
    text = message.lower()
    suggested = _SUGGESTED_RANGE.search(text)
    hint = int(suggested.group(2), 16) - int(suggested.group(1), 16) + 1 if suggested else None
    for pattern in _RANGE_LIMITS:
        if found := pattern.search(text):
            limit = hint or _limit_of(found)
            return LogRangeRefused(message, kind=RefusalKind.BLOCK_RANGE, max_blocks=limit)
    if any(pattern.search(text) for pattern in _RESULT_LIMITS):
        return LogRangeRefused(message, kind=RefusalKind.RESULTS, max_blocks=hint)
    if blocks > 1 and _TIMEOUTS.search(text):
        return LogRangeRefused(message, kind=RefusalKind.TIMEOUT, max_blocks=hint)
    return None


def classify_error(
    method: str, error: object, *, blocks: int = 1
) -> RpcTransient | RpcRejected | LogRangeRefused:
    """The exception a JSON-RPC ``error`` object stands for.

    Size refusals of eth_getLogs first; then the codes and messages that blame the request
    (not retried); anything else is the server's trouble and worth another attempt.
    """
    code = error.get("code") if isinstance(error, dict) else None
    message = error.get("message") if isinstance(error, dict) else None
    data = error.get("data") if isinstance(error, dict) else None
    text = " ".join(str(part) for part in (message, data) if part is not None) or str(error)
    reason = f"{method}: error {code}: {text}"
    if method == GET_LOGS and (refused := classify_logs_refusal(reason, blocks=blocks)):
        return refused
    lowered = text.lower()
    if _TRANSIENT_DESPITE_CODE.search(lowered):
        return RpcTransient(reason)
    if code in _REJECTING_CODES or _REJECTING_MESSAGE.search(lowered):
        return RpcRejected(reason, code=code if isinstance(code, int) else None)
    return RpcTransient(reason)


# --- endpoints ----------------------------------------------------------------------------


class Endpoints:
    """Which URL the next attempt goes to: the current one until it fails, then the next.

    A URL that asked us to wait (Retry-After) rests until then; one that could not be reached
    at all is passed over for ``failback_after`` seconds while another URL can be used; after
    ``failback_after`` seconds away from the first URL, the first is tried again. Times are
    monotonic seconds.
    """

    def __init__(self, urls: Sequence[str], *, failback_after: float) -> None:
        if not urls:
            raise ValueError("at least one RPC URL is needed")
        self.urls = tuple(urls)
        self._failback_after = failback_after
        self._current = 0
        self._left_first_at: float | None = None
        self._rest_until = [0.0] * len(self.urls)
        self._avoid_until = [0.0] * len(self.urls)

    def pick(self, now: float) -> tuple[int, float]:
        """The URL index to use and how long to wait before using it."""
        if self._left_first_at is not None and now - self._left_first_at >= self._failback_after:
            self._current, self._left_first_at = 0, None
        count = len(self.urls)
        in_turn = [(self._current + step) % count for step in range(count)]
        reachable = [index for index in in_turn if self._avoid_until[index] <= now]
        index = min(reachable or in_turn, key=lambda index: max(self._rest_until[index], now))
        self._move_to(index, now)
        return index, max(0.0, self._rest_until[index] - now)

    def failed(
        self,
        index: int,
        now: float,
        *,
        retry_after: float | None = None,
        unreachable: bool = False,
    ) -> None:
        if retry_after:
            self._rest_until[index] = max(self._rest_until[index], now + retry_after)
        if unreachable:
            self._avoid_until[index] = now + self._failback_after
        if index == self._current:
            self._move_to((index + 1) % len(self.urls), now)

    def _move_to(self, index: int, now: float) -> None:
        if self._current == 0 and index != 0:
            self._left_first_at = now
        elif index == 0:
            self._left_first_at = None
        self._current = index


# --- the client ---------------------------------------------------------------------------

Validator = Callable[[Any], Any]


class JsonRpc:
    """JSON-RPC over one or more URLs (``RPC_URLS``), retried and failed over.

    ``urls`` may be one URL (as before) or a list, tried in order of preference.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        urls: str | Sequence[str],
        *,
        policy: RetryPolicy | None = None,
    ) -> None:
        self._session = session
        self.policy = policy or RetryPolicy()
        self.endpoints = Endpoints(
            [urls] if isinstance(urls, str) else list(urls),
            failback_after=self.policy.failback_after,
        )
        self._ids = itertools.count(1)
        self._highest_head = -1
        self._highest_finalized: BlockHeader | None = None
        self._batches_refused = False

    @property
    def urls(self) -> tuple[str, ...]:
        return self.endpoints.urls

    async def call(self, method: str, params: Sequence[Any] = ()) -> Any:
        """The ``result`` of ``method``, retried; RpcRejected / RpcUnavailable otherwise."""
        return await self._call(method, params)

    async def chain_id(self) -> int:
        chain: int = await self._call("eth_chainId", (), validate=_quantity)
        return chain

    async def block_number(self) -> int:
        """The highest head any URL has shown: a lagging or load-balanced node that answers
        an older head does not move it back (that would look like a reorg)."""
        head: int = await self._call("eth_blockNumber", (), validate=_quantity)
        if head < self._highest_head:
            log.warning(
                "rpc head behind the highest seen", answered=head, highest=self._highest_head
            )
            return self._highest_head
        self._highest_head = head
        return head

    async def block(self, number: int) -> BlockHeader:
        """The header of block ``number``; a ``null`` answer (a node behind that block) is
        retried, so ask only for blocks at or below a head you have seen."""

        def header(found: Any) -> BlockHeader:
            if found is None:
                raise RpcTransient(f"eth_getBlockByNumber: no block {number} (null)")
            parsed = _header(found)
            if parsed.number != number:
                raise RpcTransient(f"eth_getBlockByNumber: asked {number}, got {parsed.number}")
            return parsed

        result: BlockHeader = await self._call(
            "eth_getBlockByNumber", [hex(number), False], validate=header
        )
        return result

    async def blocks(self, numbers: Iterable[int]) -> dict[int, BlockHeader]:
        """The headers of ``numbers`` (by number, ascending), many to a request: JSON-RPC
        batches of at most ``HEADERS_PER_REQUEST`` calls, ``BATCHES_AT_ONCE`` at a time, each
        header checked as :meth:`block` checks it. A batch attempt keeps the headers it got
        and asks again only for the others (``null``, malformed, or the whole answer lost),
        so one bad item does not cost the rest. A node that refuses batches is asked one
        header at a time from then on."""
        wanted = sorted(set(numbers))
        found: dict[int, BlockHeader] = {}
        chunks = [
            wanted[at : at + HEADERS_PER_REQUEST]
            for at in range(0, len(wanted), HEADERS_PER_REQUEST)
        ]
        if chunks and not self._batches_refused:
            try:
                # The first alone: a node that refuses batches says so once.
                await self._call_batch(chunks[0], found)
                await _all_of(self._call_batch(chunk, found) for chunk in chunks[1:])
            except RpcRejected as refused:
                if not _refuses_batches(refused):
                    raise
                log.warning("rpc node refuses batch requests; asking one header at a time")
                self._batches_refused = True
        for number in wanted:
            if number not in found:
                found[number] = await self.block(number)
        return {number: found[number] for number in wanted}

    async def latest_block(self) -> BlockHeader:
        """The header of the node's own ``latest`` block (not held monotonic: a shorter new
        branch must stay visible; tell a lagging node from a reorg by its hash)."""

        def header(found: Any) -> BlockHeader:
            if found is None:
                raise RpcTransient("eth_getBlockByNumber: no latest block (null)")
            return _header(found)

        result: BlockHeader = await self._call(
            "eth_getBlockByNumber", ["latest", False], validate=header
        )
        if result.number > self._highest_head:
            self._highest_head = result.number
        return result

    async def finalized_block(self) -> BlockHeader | None:
        """The node's ``finalized`` block (never older than one seen before), or None when the
        node does not know the tag: then head − CONFIRMATIONS stands in."""
        try:
            found: BlockHeader | None = await self._call(
                "eth_getBlockByNumber",
                ["finalized", False],
                validate=lambda found: None if found is None else _header(found),
                rejects=_MISSING_TAG,
            )
        except RpcRejected as rejected:
            log.info("rpc node has no finalized tag", reason=str(rejected))
            return None
        if found is None:
            return None
        if self._highest_finalized and found.number < self._highest_finalized.number:
            log.warning(
                "rpc finalized block behind the highest seen",
                answered=found.number,
                highest=self._highest_finalized.number,
            )
            return self._highest_finalized
        self._highest_finalized = found
        return found

    async def logs(
        self,
        from_block: int,
        to_block: int,
        addresses: Sequence[str],
        topics: Sequence[str] = (),
    ) -> list[dict[str, Any]]:
        """Logs of `addresses` in the range; with `topics`, only those whose topic0 is one.

        A refusal for size (and a timeout of more than one block) raises LogRangeRefused
        without retrying: a smaller range is the cure, not patience.
        """
        query: dict[str, Any] = {
            "fromBlock": hex(from_block),
            "toBlock": hex(to_block),
            "address": list(addresses),
        }
        if topics:
            query["topics"] = [list(topics)]

        def checked(found: Any) -> list[dict[str, Any]]:
            return _logs_within(found, from_block, to_block, addresses, topics)

        found: list[dict[str, Any]] = await self._call(
            GET_LOGS, [query], validate=checked, blocks=to_block - from_block + 1
        )
        return found

    async def block_logs(
        self, header: BlockHeader, addresses: Sequence[str], topics: Sequence[str] = ()
    ) -> list[dict[str, Any]]:
        """Logs of `addresses` in the block `header` is, asked by its hash (EIP-234): a node
        that does not have that block answers an error (retried), never an empty list."""
        query: dict[str, Any] = {"blockHash": header.hash, "address": list(addresses)}
        if topics:
            query["topics"] = [list(topics)]

        def checked(found: Any) -> list[dict[str, Any]]:
            logs = _logs_within(found, header.number, header.number, addresses, topics)
            if any(_hash(item.get("blockHash")) != header.hash for item in logs):
                raise RpcTransient(f"{GET_LOGS}: a log of another block than {header.hash}")
            return logs

        found: list[dict[str, Any]] = await self._call(GET_LOGS, [query], validate=checked)
        return found

    # -- retrying ---------------------------------------------------------------------------

    async def _call(
        self,
        method: str,
        params: Sequence[Any],
        *,
        validate: Validator | None = None,
        blocks: int = 1,
        rejects: re.Pattern[str] | None = None,
    ) -> Any:
        """``rejects``: transient-looking failures that this call takes as a refusal."""
        retrying = self._retrying()
        try:
            return await retrying(self._attempt, method, params, validate, blocks, rejects)
        except RetryError as exhausted:
            raise self._gave_up(method, exhausted) from exhausted.last_attempt.exception()

    def _retrying(self) -> AsyncRetrying:
        """Transient failures of one call or batch, retried with the policy's backoff."""
        return AsyncRetrying(
            stop=stop_after_attempt(self.policy.attempts),
            wait=backoff_wait(self.policy),
            retry=retry_if_exception_type(RpcTransient),
            before_sleep=_log_retry,
        )

    def _gave_up(self, label: str, exhausted: RetryError) -> RpcUnavailable:
        return RpcUnavailable(
            f"{label}: gave up after {self.policy.attempts} attempts on "
            f"{', '.join(map(endpoint_label, self.urls))}: {exhausted.last_attempt.exception()}"
        )

    async def _call_batch(self, numbers: Sequence[int], found: dict[int, BlockHeader]) -> None:
        """Headers of ``numbers`` into ``found``, retried as :meth:`_call` retries a call."""
        retrying = self._retrying()
        try:
            await retrying(self._attempt_batch, f"{BLOCK_BY_NUMBER} batch", numbers, found)
        except RetryError as exhausted:
            raise self._gave_up(f"{BLOCK_BY_NUMBER} batch", exhausted) from (
                exhausted.last_attempt.exception()
            )

    async def _attempt_batch(
        self, label: str, numbers: Sequence[int], found: dict[int, BlockHeader]
    ) -> None:
        """``label`` names the call in the retry log."""
        asked = [number for number in numbers if number not in found]
        index, wait = self.endpoints.pick(time.monotonic())
        if wait > 0:
            await asyncio.sleep(wait)
        url = self.urls[index]
        try:
            answers = await self._post_batch(url, [[hex(number), False] for number in asked])
            failures = [
                failure
                for number, answer in zip(asked, answers, strict=True)
                if (failure := _keep_header(number, answer, found)) is not None
            ]
            if failures:
                raise RpcTransient(
                    f"{BLOCK_BY_NUMBER} batch: {len(failures)} of {len(asked)} headers "
                    f"missing, first: {failures[0]}"
                )
        except RpcTransient as failure:
            self._endpoint_failed(index, url, failure)
            raise

    def _endpoint_failed(self, index: int, url: str, failure: RpcTransient) -> None:
        """Name the endpoint in the failure and rest it (for its Retry-After, if any)."""
        failure.add_note(f"endpoint {endpoint_label(url)}")
        retry_after = failure.retry_after
        if retry_after is not None:
            retry_after = min(retry_after, self.policy.max_retry_after)
        self.endpoints.failed(
            index, time.monotonic(), retry_after=retry_after, unreachable=failure.unreachable
        )

    async def _attempt(
        self,
        method: str,
        params: Sequence[Any],
        validate: Validator | None,
        blocks: int,
        rejects: re.Pattern[str] | None,
    ) -> Any:
        index, wait = self.endpoints.pick(time.monotonic())
        if wait > 0:
            await asyncio.sleep(wait)
        url = self.urls[index]
        try:
            return await self._post(url, method, params, blocks, validate)
        except RpcTransient as failure:
            if rejects and rejects.search(str(failure).lower()):
                raise RpcRejected(str(failure)) from failure
            self._endpoint_failed(index, url, failure)
            raise

    async def _post(
        self,
        url: str,
        method: str,
        params: Sequence[Any],
        blocks: int,
        validate: Validator | None = None,
    ) -> Any:
        request_id = next(self._ids)
        request = {"jsonrpc": "2.0", "id": request_id, "method": method, "params": list(params)}
        timeout = aiohttp.ClientTimeout(total=self.policy.request_timeout)
        try:
            async with self._session.post(url, json=request, timeout=timeout) as response:
                status, headers = response.status, response.headers
                body = await response.read()
        except TimeoutError:
            reason = f"{method}: no answer within {self.policy.request_timeout} s"
            if method == GET_LOGS and blocks > 1:
                raise LogRangeRefused(reason, kind=RefusalKind.TIMEOUT) from None
            raise RpcTimeout(reason) from None
        except aiohttp.ClientConnectorError as error:
            raise RpcTransient(f"{method}: unreachable: {error}", unreachable=True) from None
        except aiohttp.ClientError as error:
            raise RpcTransient(f"{method}: {type(error).__name__}: {error}") from None
        if status != 200:
            _refuse_status(method, status, headers, body, blocks)

        def result() -> Any:
            found = _result_of(method, request_id, body, blocks)
            return validate(found) if validate else found

        if len(body) >= PARSED_APART_BYTES:
            # Megabytes of logs take tens of milliseconds to parse and check: in a thread,
            # the event loop meanwhile serves the batch being written.
            return await asyncio.to_thread(result)
        return result()

    async def _post_batch(self, url: str, params: Sequence[Sequence[Any]]) -> list[Any]:
        """One HTTP request of eth_getBlockByNumber calls: each answer in the order asked,
        a ``result`` or the error it stands for (RpcError)."""
        ids = [next(self._ids) for _ in params]
        request = [
            {"jsonrpc": "2.0", "id": request_id, "method": BLOCK_BY_NUMBER, "params": list(call)}
            for request_id, call in zip(ids, params, strict=True)
        ]
        method = f"{BLOCK_BY_NUMBER} batch"
        timeout = aiohttp.ClientTimeout(total=self.policy.request_timeout)
        try:
            async with self._session.post(url, json=request, timeout=timeout) as response:
                status, headers = response.status, response.headers
                body = await response.read()
        except TimeoutError:
            raise RpcTimeout(
                f"{method}: no answer within {self.policy.request_timeout} s"
            ) from None
        except aiohttp.ClientConnectorError as error:
            raise RpcTransient(f"{method}: unreachable: {error}", unreachable=True) from None
        except aiohttp.ClientError as error:
            raise RpcTransient(f"{method}: {type(error).__name__}: {error}") from None
        if status != 200:
            _refuse_status(method, status, headers, body, 1)
        return _results_of_batch(method, ids, body)


def _refuse_status(
    method: str, status: int, headers: Mapping[str, str], body: bytes, blocks: int
) -> NoReturn:
    """What an answer other than 200 means."""
    retry_after = parse_retry_after(headers.get("Retry-After"), now=dt.datetime.now(dt.UTC))
    if status == 429 or (status == 503 and retry_after is not None):
        raise RpcTransient(f"{method}: HTTP {status}", retry_after=retry_after)
    if status == 413:
        if method == GET_LOGS:
            raise LogRangeRefused(f"{method}: HTTP 413", kind=RefusalKind.RESULTS)
        raise RpcRejected(f"{method}: HTTP 413 (request too large)")
    error = _json_rpc_error(body)
    if error is not None and 400 <= status < 500:
        raise classify_error(method, error, blocks=blocks)
    # 5xx, 408, and a 401/403/404 of one misconfigured URL: another attempt, or URL, may do.
    raise RpcTransient(f"{method}: HTTP {status}")


def _json_rpc_error(body: bytes) -> object | None:
    try:
        answer = json.loads(body)
    except ValueError:
        return None
    return answer.get("error") if isinstance(answer, dict) else None


def _result_of(method: str, request_id: int, body: bytes, blocks: int) -> Any:
    try:
        answer = json.loads(body)
    except ValueError as error:
        raise RpcTransient(f"{method}: the answer is not JSON ({error})") from None
    if not isinstance(answer, dict):
        raise RpcTransient(f"{method}: the answer is not a JSON-RPC object")
    if answer.get("error") is not None:
        raise classify_error(method, answer["error"], blocks=blocks)
    if answer.get("id") != request_id:
        raise RpcTransient(f"{method}: the answer is for request {answer.get('id')!r}")
    if "result" not in answer:
        raise RpcTransient(f"{method}: the answer has no result")
    return answer["result"]


async def _all_of(calls: Iterable[Coroutine[Any, Any, None]]) -> None:
    """Run the calls ``BATCHES_AT_ONCE`` at a time; the first failure cancels the others and
    is raised as it is."""
    gate = asyncio.Semaphore(BATCHES_AT_ONCE)

    async def gated(call: Coroutine[Any, Any, None]) -> None:
        async with gate:
            await call

    try:
        async with asyncio.TaskGroup() as group:
            for call in calls:
                group.create_task(gated(call))
    except ExceptionGroup as failed:
        raise failed.exceptions[0] from None


def _results_of_batch(method: str, ids: Sequence[int], body: bytes) -> list[Any]:
    """The answers of a batch request, in the order of ``ids``: each call's ``result``, or
    the error its ``error`` object stands for; a call left unanswered is a transient error."""
    try:
        answer = json.loads(body)
    except ValueError as error:
        raise RpcTransient(f"{method}: the answer is not JSON ({error})") from None
    if isinstance(answer, dict) and answer.get("error") is not None:
        raise classify_error(method, answer["error"])  # the batch itself was refused
    if not isinstance(answer, list):
        raise RpcTransient(f"{method}: the answer is not a JSON-RPC batch")
    by_id = {item.get("id"): item for item in answer if isinstance(item, dict)}
    results: list[Any] = []
    for request_id in ids:
        item = by_id.get(request_id)
        if item is None:
            results.append(RpcTransient(f"{method}: no answer for request {request_id}"))
        elif item.get("error") is not None:
            results.append(classify_error(BLOCK_BY_NUMBER, item["error"]))
        elif "result" not in item:
            results.append(RpcTransient(f"{method}: the answer has no result"))
        else:
            results.append(item["result"])
    return results


def _keep_header(number: int, answer: Any, found: dict[int, BlockHeader]) -> RpcTransient | None:
    """Put block ``number``'s header from a batch answer into ``found``; what went wrong
    when it cannot (a refusal of the call itself is raised)."""
    if isinstance(answer, RpcTransient):
        return answer
    if isinstance(answer, RpcError):
        raise answer
    if answer is None:
        return RpcTransient(f"{BLOCK_BY_NUMBER}: no block {number} (null)")
    try:
        header = _header(answer)
    except RpcTransient as malformed:
        return malformed
    if header.number != number:
        return RpcTransient(f"{BLOCK_BY_NUMBER}: asked {number}, got {header.number}")
    found[number] = header
    return None


def _refuses_batches(refused: RpcRejected) -> bool:
    """A refusal of the batch as such (not of one of its calls)."""
    return "batch" in str(refused).lower() or refused.code == INVALID_REQUEST


def _log_retry(state: RetryCallState) -> None:
    failure = state.outcome.exception() if state.outcome else None
    log.warning(
        "rpc retry",
        method=state.args[0] if state.args else None,
        attempt=state.attempt_number,
        wait=round(state.upcoming_sleep, 3),
        error=str(failure),
        where=getattr(failure, "__notes__", None),
    )


# --- answer checks ------------------------------------------------------------------------

_HASH: Final = re.compile(r"^0x[0-9a-fA-F]{64}$")


def _quantity(value: Any) -> int:
    if not isinstance(value, str) or not value.startswith("0x"):
        raise RpcTransient(f"not a hex quantity: {value!r}")
    try:
        return int(value, 16)
    except ValueError:
        raise RpcTransient(f"not a hex quantity: {value!r}") from None


def _hash(value: Any) -> str:
    if not isinstance(value, str) or not _HASH.match(value):
        raise RpcTransient(f"not a 32-byte hash: {value!r}")
    return value.lower()


_BLOOM: Final = re.compile(r"^0x[0-9a-fA-F]{512}$")


def _bloom(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not _BLOOM.match(value):
        raise RpcTransient(f"not a 256-byte logs bloom: {value!r:.80}")
    return value.lower()


def _header(found: Any) -> BlockHeader:
    if not isinstance(found, dict):
        raise RpcTransient(f"eth_getBlockByNumber: not a block: {found!r:.80}")
    try:
        return BlockHeader(
            number=_quantity(found.get("number")),
            hash=_hash(found.get("hash")),
            parent_hash=_hash(found.get("parentHash")),
            timestamp=_quantity(found.get("timestamp")),
            logs_bloom=_bloom(found.get("logsBloom")),
        )
    except RpcTransient as malformed:
        raise RpcTransient(f"eth_getBlockByNumber: malformed block ({malformed})") from None


def _logs_within(
    found: Any,
    from_block: int,
    to_block: int,
    addresses: Sequence[str],
    topics: Sequence[str] = (),
) -> list[dict[str, Any]]:
    """The logs, if every one is a mined log of the asked range, of one of the asked
    `addresses` and with one of the asked `topics` as topic0 (of those given); a transient
    failure if not (a node that ignored the filter is not trusted with the rest of its answer
    either)."""
    if not isinstance(found, list):
        raise RpcTransient(f"{GET_LOGS}: the answer is not a list")
    asked = {address.lower() for address in addresses}
    asked_topics = {topic.lower() for topic in topics}
    for item in found:
        if not isinstance(item, dict):
            raise RpcTransient(f"{GET_LOGS}: a log is not an object")
        number = _quantity(item.get("blockNumber"))
        _hash(item.get("blockHash"))
        _hash(item.get("transactionHash"))
        _quantity(item.get("logIndex"))
        if not from_block <= number <= to_block:
            raise RpcTransient(f"{GET_LOGS}: a log of block {number} outside the range")
        if item.get("removed"):
            raise RpcTransient(f"{GET_LOGS}: a removed log (the node is switching branches)")
        address = item.get("address")
        if asked and (not isinstance(address, str) or address.lower() not in asked):
            raise RpcTransient(f"{GET_LOGS}: a log of {address!r:.50}, a contract not asked for")
        if asked_topics and not _has_topic0(item, asked_topics):
            raise RpcTransient(f"{GET_LOGS}: a log of an event not asked for")
    return found


def _has_topic0(log: dict[str, Any], topics: set[str]) -> bool:
    found = log.get("topics")
    return (
        isinstance(found, list)
        and bool(found)
        and isinstance(found[0], str)
        and found[0].lower() in topics
    )
