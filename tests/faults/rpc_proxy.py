"""A JSON-RPC proxy that injects the faults of chain.md ("Faults") in front of a real node.

Each request draws from a seeded RNG, so a run of a sequential client is reproducible
(a JSON-RPC batch is one request for the HTTP faults, and one draw per call for the others):

- HTTP 500, HTTP 429 with a Retry-After, a hang (no answer for ``hang_seconds``), a dropped
  connection, a truncated JSON body: one draw per request, over any method;
- ``null`` for eth_getBlockByNumber of a block number (a node that has not seen it yet);
- a lagging node (a load-balanced replica up to ``max_lag`` blocks behind the real head):
  eth_blockNumber and the ``latest`` block are its head, eth_getLogs leaves out the logs of
  the blocks it lacks (an empty answer for a range past its head) and refuses a block hash it
  does not know;
- eth_getLogs over more than ``max_log_blocks`` blocks refused as public Monad RPCs do;
- optionally no ``finalized`` tag, as older nodes, and no batch requests, as some providers;
- optionally an eth_getLogs answer with a log of a contract nobody asked about (``foreign_log``,
  a copy of one of its logs at another address), and eth_getLogs answered without the
  query's topics (``topics_ignored``): providers that ignore part of the filter;
- optionally an eth_getLogs answer with a log of an orphaned transaction marked ``removed``
  (``removed_log``), as a node answers while it switches branches.

In a test::

    async with FaultyRpcProxy(anvil_url, Faults.everything(), seed=7) as proxy:
        rpc = JsonRpc(http, proxy.url)

From a shell (prints ``listening http://127.0.0.1:PORT`` and runs until SIGTERM/SIGINT)::

    python -m tests.faults.rpc_proxy http://127.0.0.1:8545 --port 8546 --everything --seed 7
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import random
import signal
import socket
import sys
import time
from collections import Counter
from dataclasses import dataclass, fields
from types import TracebackType
from typing import Any, Self

import aiohttp
from aiohttp import web

MONAD_LOG_BLOCKS = 100


@dataclass(frozen=True, slots=True)
class Faults:
    """Rates are probabilities per request; the HTTP ones add up to at most 1."""

    http_500: float = 0.0
    http_429: float = 0.0
    retry_after: str = "0.05"  # the 429's Retry-After header (seconds or an HTTP-date)
    hang: float = 0.0
    hang_seconds: float = 5.0
    drop: float = 0.0
    truncated: float = 0.0
    null_block: float = 0.0
    lagging_head: float = 0.0
    max_lag: int = 8
    foreign_log: float = 0.0
    topics_ignored: bool = False
    removed_log: float = 0.0
    max_log_blocks: int | None = None
    range_message: str = "block range too large"
    finalized_tag: bool = True
    batches: bool = True  # False: batch requests are refused, as some providers do

    @classmethod
    def everything(cls) -> Faults:
        """All faults at once: a quarter of the answers are 500s, a tenth 429s, and so on."""
        return cls(
            http_500=0.25,
            http_429=0.10,
            hang=0.02,
            drop=0.05,
            truncated=0.05,
            null_block=0.15,
            lagging_head=0.30,
            max_log_blocks=MONAD_LOG_BLOCKS,
        )

    def __post_init__(self) -> None:
        if sum(self._http_rates()) > 1:
            raise ValueError("the HTTP fault rates add up to more than 1")

    def _http_rates(self) -> tuple[float, ...]:
        return (self.http_500, self.http_429, self.hang, self.drop, self.truncated)


@dataclass(frozen=True, slots=True)
class Outcome:
    at: float  # time.monotonic() when the request arrived
    method: str
    fault: str  # "ok" when passed through untouched


class FaultyRpcProxy:
    """The proxy, started and stopped as an async context manager; ``url`` once started."""

    def __init__(
        self,
        upstream: str,
        faults: Faults,
        *,
        seed: int = 0,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.upstream = upstream
        self.faults = faults
        self.outcomes: list[Outcome] = []
        self._rng = random.Random(seed)
        self._host, self._port = host, port
        self._runner: web.AppRunner | None = None
        self._client: aiohttp.ClientSession | None = None
        self._stopping = asyncio.Event()

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self._port}"

    def counts(self) -> Counter[str]:
        return Counter(outcome.fault for outcome in self.outcomes)

    async def __aenter__(self) -> Self:
        self._client = aiohttp.ClientSession()
        app = web.Application()
        app.router.add_post("/", self._handle)
        self._runner = web.AppRunner(app, shutdown_timeout=0.1, access_log=None)
        await self._runner.setup()
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self._host, self._port))
        self._port = listener.getsockname()[1]
        await web.SockSite(self._runner, listener).start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stopping.set()
        if self._runner is not None:
            await self._runner.cleanup()
        if self._client is not None:
            await self._client.close()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        arrived = time.monotonic()
        body = await request.read()
        payload = _json_or_none(body)
        if isinstance(payload, list) and payload:
            return await self._handle_batch(request, arrived, payload)
        method = payload.get("method", "?") if isinstance(payload, dict) else "batch"
        fault = self._draw_http_fault()
        made_up = self._method_fault(payload) if isinstance(payload, dict) else None
        if fault == "ok" and made_up is not None:
            fault = made_up[0]
        lag = self._draw_lag() if _answered_by_a_replica(payload) else 0
        if fault == "ok" and lag:
            fault = "lagging_head"
        self.outcomes.append(Outcome(arrived, method, fault))
        early = await self._http_fault_answer(request, fault)
        if early is not None:
            return early
        if made_up is not None:
            return web.json_response(made_up[1])
        if self.faults.topics_ignored and method == "eth_getLogs" and isinstance(payload, dict):
            body = _without_topics(payload)
        status, answer_body = await self._forward(body)
        if lag and isinstance(payload, dict):
            answer_body = await self._behind(payload, answer_body, lag)
        if (
            method == "eth_getLogs"
            and fault == "ok"
            and self.faults.foreign_log > 0
            and self._rng.random() < self.faults.foreign_log
        ):
            answer_body, added = _with_a_foreign_log(answer_body)
            if added:
                self.outcomes[-1] = Outcome(arrived, method, "foreign_log")
        if (
            method == "eth_getLogs"
            and fault == "ok"
            and self.faults.removed_log > 0
            and self._rng.random() < self.faults.removed_log
        ):
            answer_body, marked = _with_a_removed_log(answer_body)
            if marked:
                self.outcomes[-1] = Outcome(arrived, method, "removed_log")
        if fault == "truncated":
            answer_body = answer_body[: max(1, len(answer_body) // 2)]
        return web.Response(status=status, body=answer_body, content_type="application/json")

    async def _handle_batch(
        self, request: web.Request, arrived: float, calls: list[Any]
    ) -> web.StreamResponse:
        """A JSON-RPC batch: the HTTP faults hit the whole request; the method faults (a
        ``null`` block, a refused log range) hit each call on its own, and the node answers
        the others. One outcome per call."""
        if not self.faults.batches:
            self.outcomes.append(Outcome(arrived, "batch", "batch_refused"))
            error = {"code": -32600, "message": "batch requests are not supported"}
            return web.json_response({"jsonrpc": "2.0", "id": None, "error": error})
        fault = self._draw_http_fault()
        made_up = [
            self._method_fault(call) if isinstance(call, dict) and fault == "ok" else None
            for call in calls
        ]
        for call, own in zip(calls, made_up, strict=True):
            method = call.get("method", "?") if isinstance(call, dict) else "?"
            self.outcomes.append(Outcome(arrived, method, own[0] if own else fault))
        early = await self._http_fault_answer(request, fault)
        if early is not None:
            return early
        forwarded = [call for call, own in zip(calls, made_up, strict=True) if own is None]
        answers: Any = []
        if forwarded:
            status, body = await self._forward(json.dumps(forwarded).encode())
            answers = _json_or_none(body) if status == 200 else None
            if not isinstance(answers, list):
                return web.Response(status=status, body=body, content_type="application/json")
        # The node answers a batch in any order: each call gets the answer with its id.
        by_id = {answer.get("id"): answer for answer in answers if isinstance(answer, dict)}
        answered = iter(
            by_id.get(call.get("id") if isinstance(call, dict) else None) for call in forwarded
        )
        merged = [own[1] if own else next(answered) for own in made_up]
        answer_body = json.dumps(merged).encode()
        if fault == "truncated":
            answer_body = answer_body[: max(1, len(answer_body) // 2)]
        return web.Response(body=answer_body, content_type="application/json")

    async def _http_fault_answer(
        self, request: web.Request, fault: str
    ) -> web.StreamResponse | None:
        """The answer an HTTP fault gives instead of the node's (None: ask the node)."""
        if fault == "http_500":
            return web.Response(status=500, text="internal server error")
        if fault == "http_429":
            headers = {"Retry-After": self.faults.retry_after}
            return web.Response(status=429, text="too many requests", headers=headers)
        if fault == "drop":
            if request.transport is not None:
                request.transport.close()
            return web.Response(status=500)
        if fault == "hang":
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.faults.hang_seconds)
        if self._stopping.is_set():
            return web.Response(status=503, text="the proxy is stopping")
        return None

    def _draw_http_fault(self) -> str:
        draw, edge = self._rng.random(), 0.0
        names = ("http_500", "http_429", "hang", "drop", "truncated")
        for name, rate in zip(names, self.faults._http_rates(), strict=True):
            edge += rate
            if draw < edge:
                return name
        return "ok"

    def _draw_lag(self) -> int:
        if self._rng.random() >= self.faults.lagging_head:
            return 0
        return self._rng.randint(1, self.faults.max_lag)

    def _method_fault(self, payload: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
        """(fault, answer) the proxy makes up instead of asking the node, or None."""
        method, params = payload.get("method"), payload.get("params") or []
        request_id = payload.get("id")
        if method == "eth_getBlockByNumber" and params:
            tag = params[0]
            if tag in ("finalized", "safe") and not self.faults.finalized_tag:
                error = {"code": -32000, "message": f"{tag} block not found"}
                return "no_finalized_tag", {"jsonrpc": "2.0", "id": request_id, "error": error}
            if str(tag).startswith("0x") and self._rng.random() < self.faults.null_block:
                return "null_block", {"jsonrpc": "2.0", "id": request_id, "result": None}
        limit = self.faults.max_log_blocks
        if method == "eth_getLogs" and limit is not None and params and "toBlock" in params[0]:
            query = params[0]
            blocks = int(query["toBlock"], 16) - int(query["fromBlock"], 16) + 1
            if blocks > limit:
                error = {"code": -32602, "message": self.faults.range_message}
                return "range_refused", {"jsonrpc": "2.0", "id": request_id, "error": error}
        return None

    async def _behind(self, payload: dict[str, Any], body: bytes, lag: int) -> bytes:
        """The answer of a replica ``lag`` blocks behind the node, given the node's."""
        method = payload.get("method")
        if method == "eth_blockNumber":
            return _lagging(body, lag)
        _, head_body = await self._forward(
            json.dumps({"jsonrpc": "2.0", "id": 0, "method": "eth_blockNumber"}).encode()
        )
        head = _json_or_none(head_body)
        if not isinstance(head, dict) or not isinstance(head.get("result"), str):
            return body
        height = max(0, int(head["result"], 16) - lag)
        if method == "eth_getBlockByNumber":  # `latest`: the replica's own head block
            params = [hex(height), *payload["params"][1:]]
            _, older = await self._forward(json.dumps({**payload, "params": params}).encode())
            return older
        answer = _json_or_none(body)
        if not isinstance(answer, dict) or not isinstance(answer.get("result"), list):
            return body
        logs = answer["result"]
        kept = [item for item in logs if int(item.get("blockNumber", "0x0"), 16) <= height]
        if len(kept) < len(logs) and "blockHash" in payload["params"][0]:
            error = {"code": -32000, "message": "unknown block"}
            return json.dumps({"jsonrpc": "2.0", "id": payload.get("id"), "error": error}).encode()
        return json.dumps({**answer, "result": kept}).encode()

    async def _forward(self, body: bytes) -> tuple[int, bytes]:
        assert self._client is not None, "the proxy is not started"
        headers = {"Content-Type": "application/json"}
        async with self._client.post(self.upstream, data=body, headers=headers) as answer:
            return answer.status, await answer.read()


def _answered_by_a_replica(payload: Any) -> bool:
    """Whether a lagging replica may answer this request (see _behind)."""
    if not isinstance(payload, dict):
        return False
    method, params = payload.get("method"), payload.get("params") or []
    if method == "eth_getBlockByNumber":
        return bool(params) and params[0] == "latest"
    if method == "eth_getLogs":
        return bool(params) and isinstance(params[0], dict)
    return method == "eth_blockNumber"


def _without_topics(payload: dict[str, Any]) -> bytes:
    """An eth_getLogs request without its topics filter."""
    queries = [
        {key: value for key, value in query.items() if key != "topics"}
        if isinstance(query, dict)
        else query
        for query in payload.get("params") or []
    ]
    return json.dumps({**payload, "params": queries}).encode()


FOREIGN_CONTRACT = "0x00000000000000000000000000000000000f0e19"


def _with_a_foreign_log(body: bytes) -> tuple[bytes, bool]:
    """The answer with a copy of its first log from FOREIGN_CONTRACT (and whether it had one
    to copy)."""
    answer = _json_or_none(body)
    if not isinstance(answer, dict) or not answer.get("result"):
        return body, False
    first = answer["result"][0]
    foreign = {
        **first,
        "address": FOREIGN_CONTRACT,
        "logIndex": hex(int(first["logIndex"], 16) + 1000),
    }
    answer["result"] = [*answer["result"], foreign]
    return json.dumps(answer).encode(), True


ORPHANED_TX_HASH = "0x" + "0e" * 32


def _with_a_removed_log(body: bytes) -> tuple[bytes, bool]:
    """The answer with a log of an orphaned transaction (a copy of its first log under
    ORPHANED_TX_HASH) marked removed; and whether it had a log to copy."""
    answer = _json_or_none(body)
    if not isinstance(answer, dict) or not answer.get("result"):
        return body, False
    orphaned = {**answer["result"][0], "transactionHash": ORPHANED_TX_HASH, "removed": True}
    answer["result"] = [*answer["result"], orphaned]
    return json.dumps(answer).encode(), True


def _lagging(body: bytes, lag: int) -> bytes:
    """The node's eth_blockNumber answer, ``lag`` blocks behind."""
    answer = _json_or_none(body)
    if not isinstance(answer, dict) or not isinstance(answer.get("result"), str):
        return body
    answer["result"] = hex(max(0, int(answer["result"], 16) - lag))
    return json.dumps(answer).encode()


def _json_or_none(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None


def _arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.faults.rpc_proxy")
    parser.add_argument("upstream", help="the node's JSON-RPC URL")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0: any free port")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--everything", action="store_true", help="Faults.everything()")
    parser.add_argument("--no-finalized-tag", action="store_true")
    for field in fields(Faults):
        kind = {"float": float, "int": int, "int | None": int, "str": str}.get(str(field.type))
        if kind is not None:
            parser.add_argument(f"--{field.name.replace('_', '-')}", type=kind, default=None)
    return parser.parse_args(argv)


def _faults_of(arguments: argparse.Namespace) -> Faults:
    base = Faults.everything() if arguments.everything else Faults()
    chosen: dict[str, Any] = {
        field.name: getattr(arguments, field.name)
        for field in fields(Faults)
        if getattr(arguments, field.name, None) is not None
    }
    if arguments.no_finalized_tag:
        chosen["finalized_tag"] = False
    return dataclasses.replace(base, **chosen)


async def _serve(arguments: argparse.Namespace) -> None:
    proxy = FaultyRpcProxy(
        arguments.upstream,
        _faults_of(arguments),
        seed=arguments.seed,
        host=arguments.host,
        port=arguments.port,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with proxy:
        sys.stdout.write(f"listening {proxy.url}\n")
        sys.stdout.flush()
        await stop.wait()
    sys.stdout.write(f"faults {dict(proxy.counts())}\n")


if __name__ == "__main__":
    asyncio.run(_serve(_arguments(sys.argv[1:])))
