"""The pure parts of the resilient RPC client: Retry-After, backoff, error kinds, failover."""

from __future__ import annotations

import datetime as dt
import random

import pytest
from tenacity import RetryCallState

from indexer.rpc import (
    Endpoints,
    LogRangeRefused,
    RefusalKind,
    RetryPolicy,
    RpcRejected,
    RpcTransient,
    backoff_wait,
    classify_error,
    endpoint_label,
    parse_retry_after,
)

NOW = dt.datetime(2026, 5, 1, 12, 0, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("3", 3.0),
        ("0", 0.0),
        (" 120 ", 120.0),
        ("0.25", 0.25),
        ("Fri, 01 May 2026 12:00:07 GMT", 7.0),
        ("Fri, 01 May 2026 11:59:00 GMT", 0.0),
        ("-5", 0.0),
    ],
)
def test_retry_after_reads_seconds_and_http_dates(header: str, seconds: float) -> None:
    assert parse_retry_after(header, now=NOW) == seconds


@pytest.mark.parametrize("header", [None, "", "soon", "nan", "Friday at noon"])
def test_a_missing_or_unreadable_retry_after_is_none(header: str | None) -> None:
    assert parse_retry_after(header, now=NOW) is None


def _state(attempt: int) -> RetryCallState:
    state = RetryCallState(retry_object=None, fn=None, args=(), kwargs={})  # type: ignore[arg-type]
    state.attempt_number = attempt
    return state


def test_backoff_is_full_jitter_in_a_doubling_window_with_a_cap() -> None:
    wait = backoff_wait(RetryPolicy(base_delay=0.1, max_delay=1.0))
    random.seed(1)
    for attempt, window in ((1, 0.1), (2, 0.2), (3, 0.4), (4, 0.8), (5, 1.0), (30, 1.0)):
        waits = [wait(_state(attempt)) for _ in range(400)]
        assert all(0 <= value <= window + 1e-9 for value in waits)
        # Full jitter: the waits spread over the whole window, not bunched at its top.
        assert min(waits) < window * 0.1 and max(waits) > window * 0.9


@pytest.mark.parametrize(
    ("message", "kind", "max_blocks"),
    [
        ("block range too large", RefusalKind.BLOCK_RANGE, None),
        ("range 1000000 exceeds limit of 10000", RefusalKind.BLOCK_RANGE, 10_000),
        (
            "You can make eth_getLogs requests with up to a 500 block range. Based on your "
            "parameters, this block range should work: [0x1a30dfd, 0x1a30ff0]",
            RefusalKind.BLOCK_RANGE,
            0x1A30FF0 - 0x1A30DFD + 1,
        ),
        (
            "block range is larger than max block range, block range = 5120, "
            "max block range = 5000",
            RefusalKind.BLOCK_RANGE,
            5_000,
        ),
        ("block range is too wide (maximum 1024)", RefusalKind.BLOCK_RANGE, 1_024),
        ("eth_getLogs is limited to a 10,000 range", RefusalKind.BLOCK_RANGE, 10_000),
        ("Block range limit exceeded.", RefusalKind.BLOCK_RANGE, None),
        (
            "requested too many blocks from 0 to 5000, maximum is set to 2048",
            RefusalKind.BLOCK_RANGE,
            2_048,
        ),
        ("query returned more than 10000 results", RefusalKind.RESULTS, None),
        (
            "query returned more than 10000 results. Try with this block range [0x10, 0x4f].",
            RefusalKind.RESULTS,
            0x40,
        ),
        ("Log response size exceeded.", RefusalKind.RESULTS, None),
        ("logs matched by query exceeds limit of 10000", RefusalKind.RESULTS, None),
        ("backend response too large", RefusalKind.RESULTS, None),
        ("query timeout exceeded", RefusalKind.TIMEOUT, None),
    ],
)
def test_providers_refusals_of_a_log_range_are_recognised(
    message: str, kind: RefusalKind, max_blocks: int | None
) -> None:
    refused = classify_error("eth_getLogs", {"code": -32005, "message": message}, blocks=9_999)

    assert isinstance(refused, LogRangeRefused)
    assert refused.kind is kind and refused.max_blocks == max_blocks


def test_a_timeout_of_a_single_block_is_retried_not_split() -> None:
    error = {"code": -32000, "message": "request timed out"}

    assert type(classify_error("eth_getLogs", error, blocks=1)) is RpcTransient


def test_a_range_limit_message_of_another_method_is_no_log_refusal() -> None:
    error = {"code": -32602, "message": "block range too large"}

    assert isinstance(classify_error("eth_getBlockByNumber", error), RpcRejected)


@pytest.mark.parametrize(
    "error",
    [
        {"code": -32602, "message": "invalid argument 0: hex string without 0x prefix"},
        {"code": -32601, "message": "the method eth_foo does not exist/is not available"},
        {"code": -32600, "message": "invalid request"},
        {"code": -32000, "message": "invalid argument 1: unsupported"},
    ],
)
def test_errors_that_blame_the_request_are_rejected(error: dict[str, object]) -> None:
    rejected = classify_error("eth_getBlockByNumber", error)

    assert isinstance(rejected, RpcRejected)
    assert rejected.code == error["code"]


@pytest.mark.parametrize(
    "error",
    [
        {"code": -32000, "message": "header not found"},
        {"code": -32603, "message": "internal error"},
        {"code": -32005, "message": "daily request count exceeded, request rate limited"},
        {"code": -32602, "message": "block range extends beyond current head block"},
        {"code": -32000, "message": "server busy, try again later"},
        "an error that is not even an object",
    ],
)
def test_errors_of_a_busy_or_lagging_server_are_retried(error: object) -> None:
    assert type(classify_error("eth_getBlockByNumber", error)) is RpcTransient


def test_an_endpoint_label_never_shows_the_key_in_a_url() -> None:
    label = endpoint_label("https://user:pw@monad.example.com:8443/v2/SECRETKEY?key=K")

    assert label == "https://monad.example.com:8443"


def test_a_failure_moves_to_the_next_url_and_the_first_comes_back_later() -> None:
    endpoints = Endpoints(["a", "b", "c"], failback_after=30)

    assert endpoints.pick(0) == (0, 0)
    endpoints.failed(0, 1)
    assert endpoints.pick(2) == (1, 0)
    assert endpoints.pick(3) == (1, 0)
    endpoints.failed(1, 4)
    assert endpoints.pick(5) == (2, 0)
    assert endpoints.pick(31) == (0, 0)


def test_a_url_asking_to_wait_rests_while_another_serves() -> None:
    endpoints = Endpoints(["a", "b"], failback_after=30)
    endpoints.failed(0, 0, retry_after=10)
    endpoints.failed(1, 1, retry_after=2)

    assert endpoints.pick(1.5) == (1, 1.5)
    assert endpoints.pick(3) == (1, 0)


def test_a_single_url_is_waited_for_as_long_as_it_asked() -> None:
    endpoints = Endpoints(["a"], failback_after=30)
    endpoints.failed(0, 100, retry_after=4)

    assert endpoints.pick(101) == (0, 3)


def test_an_unreachable_url_is_passed_over_while_another_answers() -> None:
    endpoints = Endpoints(["dead", "good"], failback_after=30)
    endpoints.failed(0, 0, unreachable=True)
    endpoints.failed(1, 1)  # a 500 of the good one must not send us back to the dead one

    assert endpoints.pick(2) == (1, 0)
    assert endpoints.pick(20) == (1, 0)
    assert endpoints.pick(32) == (0, 0)


def test_a_lone_unreachable_url_is_still_tried() -> None:
    endpoints = Endpoints(["only"], failback_after=30)
    endpoints.failed(0, 0, unreachable=True)

    assert endpoints.pick(0.1) == (0, 0)


def test_no_url_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one"):
        Endpoints([], failback_after=1)
