"""A small JSON-RPC client for the few calls the indexer makes (no web3 objects per log)."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp


class RpcError(Exception):
    """The node answered with an error, or with something that is not a JSON-RPC answer."""


@dataclass(frozen=True, slots=True)
class BlockHeader:
    number: int
    hash: str
    parent_hash: str
    timestamp: int


class JsonRpc:
    def __init__(self, session: aiohttp.ClientSession, url: str) -> None:
        self._session = session
        self._url = url
        self._ids = itertools.count(1)

    async def call(self, method: str, params: Sequence[Any] = ()) -> Any:
        request = {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": params}
        async with self._session.post(self._url, json=request) as response:
            if response.status != 200:
                raise RpcError(f"{method}: HTTP {response.status}")
            try:
                answer = await response.json(content_type=None)
            except ValueError as error:
                raise RpcError(f"{method}: the answer is not JSON ({error})") from None
        if not isinstance(answer, dict):
            raise RpcError(f"{method}: the answer is not a JSON-RPC object")
        if answer.get("error") is not None:
            raise RpcError(f"{method}: {answer['error']}")
        if "result" not in answer:
            raise RpcError(f"{method}: the answer has no result")
        return answer["result"]

    async def chain_id(self) -> int:
        return int(await self.call("eth_chainId"), 16)

    async def block_number(self) -> int:
        return int(await self.call("eth_blockNumber"), 16)

    async def block(self, number: int) -> BlockHeader:
        found = await self.call("eth_getBlockByNumber", [hex(number), False])
        if not isinstance(found, dict):
            raise RpcError(f"eth_getBlockByNumber: no block {number} (the node answered null)")
        return BlockHeader(
            number=int(found["number"], 16),
            hash=found["hash"].lower(),
            parent_hash=found["parentHash"].lower(),
            timestamp=int(found["timestamp"], 16),
        )

    async def logs(
        self,
        from_block: int,
        to_block: int,
        addresses: Sequence[str],
        topics: Sequence[str] = (),
    ) -> list[dict[str, Any]]:
        """Logs of `addresses` in the range; with `topics`, only those whose topic0 is one."""
        query: dict[str, Any] = {
            "fromBlock": hex(from_block),
            "toBlock": hex(to_block),
            "address": list(addresses),
        }
        if topics:
            query["topics"] = [list(topics)]
        found = await self.call("eth_getLogs", [query])
        if not isinstance(found, list):
            raise RpcError("eth_getLogs: the answer is not a list")
        return found
