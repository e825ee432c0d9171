"""Benchmark: decoding 200,000 protocol logs (all of chain.md's events, mixed).

Builds synthetic eth_getLogs entries (random values, ABI-encoded with eth_abi), then times
`indexer.events.decode_logs` over all of them and prints it next to the ceiling: a bare loop
that only does `bytes.fromhex` on the same data. For reference it also times decoding just the
data part of every log with the events' eth_abi decoders.

    .venv/bin/python -m bench.decode_events [--logs N --repeat R --seed S]
"""

from __future__ import annotations

import argparse
import gc
import random
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from eth_abi.abi import encode
from eth_abi.decoding import ContextFramesBytesIO

from indexer.events import DecodedEvent, EventSpec, Param, decode_logs, event_table

MAX = 2**256 - 1


def _value(param: Param, rng: random.Random) -> Any:
    if param.type == "tuple":
        return tuple(_value(c, rng) for c in param.components)
    if param.type == "address":
        return rng.randbytes(20)
    if param.type == "bytes32":
        return rng.randbytes(32)
    if param.type == "string":
        return f"ipfs://bafy{rng.randbytes(rng.randrange(8, 40)).hex()}"
    # Mostly everyday sizes (ids, days, 6- and 18-decimal amounts), now and then the maximum.
    return rng.choice([rng.randrange(10**6), rng.randrange(10**24), MAX])


def synthetic_logs(count: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    specs = sorted(event_table().values(), key=lambda s: s.name)
    logs = []
    for n in range(count):
        spec = specs[n % len(specs)]
        topics = [spec.topic0]
        topics += ["0x" + encode([p.canonical_type], [_value(p, rng)]).hex() for p in spec.indexed]
        data = encode([p.canonical_type for p in spec.data], [_value(p, rng) for p in spec.data])
        block = 20_000_000 + n // 50
        logs.append(
            {
                "address": "0x" + rng.randbytes(20).hex(),
                "topics": topics,
                "data": "0x" + data.hex(),
                "blockNumber": hex(block),
                "blockHash": "0x" + block.to_bytes(32, "big").hex(),
                "transactionHash": "0x" + rng.randbytes(32).hex(),
                "transactionIndex": hex(n % 50 // 5),
                "logIndex": hex(n % 50),
                "removed": False,
            }
        )
    return logs


def best_of(repeat: int, work: Callable[[], object]) -> float:
    times = []
    for _ in range(repeat):
        gc.collect()
        began = time.perf_counter()
        work()
        times.append(time.perf_counter() - began)
    return min(times)


def fromhex_only(logs: list[dict[str, Any]]) -> None:
    fromhex = bytes.fromhex
    for log in logs:
        fromhex(log["data"][2:])


def eth_abi_data_only(logs: list[dict[str, Any]], table: dict[str, EventSpec]) -> None:
    for log in logs:
        table[log["topics"][0]].decoder(ContextFramesBytesIO(bytes.fromhex(log["data"][2:])))  # type: ignore[no-untyped-call]


def word_slicing_only(work: list[tuple[EventSpec, bytes]]) -> None:
    for spec, raw in work:
        spec.read_data(raw)


def eth_abi_only(work: list[tuple[EventSpec, bytes]]) -> None:
    for spec, raw in work:
        spec.decoder(ContextFramesBytesIO(raw))  # type: ignore[no-untyped-call]


def without_gc(work: Callable[[], object]) -> Callable[[], object]:
    def run() -> object:
        gc.disable()
        try:
            return work()
        finally:
            gc.enable()

    return run


def main(count: int, repeat: int, seed: int) -> None:
    table = dict(event_table())
    began = time.perf_counter()
    logs = synthetic_logs(count, seed)
    mix = Counter(log["topics"][0] for log in logs)
    print(
        f"built {count:,} logs of {len(mix)} events ({min(mix.values()):,}-{max(mix.values()):,} "
        f"each) in {time.perf_counter() - began:.1f} s"
    )

    results = decode_logs(logs)
    failures = [r for r in results if not isinstance(r, DecodedEvent)]
    if failures:
        raise SystemExit(f"{len(failures)} logs did not decode, first: {failures[0]}")
    del results

    ceiling = best_of(repeat, lambda: fromhex_only(logs))
    decoding = best_of(repeat, lambda: decode_logs(logs))
    paused = best_of(repeat, without_gc(lambda: decode_logs(logs)))
    reference = best_of(repeat, lambda: eth_abi_data_only(logs, table))
    static = [
        (spec, bytes.fromhex(log["data"][2:]))
        for log in logs
        if (spec := table[log["topics"][0]]).data_size is not None and spec.data_size > 0
    ]
    sliced = best_of(repeat, lambda: word_slicing_only(static))
    by_eth_abi = best_of(repeat, lambda: eth_abi_only(static))

    def rate(seconds: float, n: int = count) -> str:
        return f"{n / seconds:>12,.0f} logs/s  {seconds / n * 1e6:6.2f} µs a log"

    print(f"ceiling: bytes.fromhex on the data only       {rate(ceiling)}")
    print(f"decode_logs (topics, data, fields, JSON)     {rate(decoding)}")
    print(f"  the same with the cyclic GC paused         {rate(paused)}")
    print(f"reference: the data part through eth_abi     {rate(reference)}")
    print(f"data of the {len(static):,} logs with non-empty word-only data:")
    print(f"  sliced word by word (what decode_log does) {rate(sliced, len(static))}")
    print(f"  through the event's eth_abi decoder        {rate(by_eth_abi, len(static))}")
    print(
        f"ratio to the bare fromhex loop: {decoding / ceiling:.1f}x "
        f"({paused / ceiling:.1f}x with the GC paused)"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logs", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=20_456)
    arguments = parser.parse_args()
    main(arguments.logs, arguments.repeat, arguments.seed)
