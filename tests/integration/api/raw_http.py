"""Requests as bytes, for what no HTTP client library sends: headers that are not UTF-8."""

from __future__ import annotations

import asyncio

from aiohttp.test_utils import TestClient


async def raw_request(client: TestClient[object, object], request: bytes) -> tuple[int, bytes]:
    """Send `request` as it is to the test server; the answer's status and body."""
    reader, writer = await asyncio.open_connection(client.server.host, client.server.port)
    try:
        writer.write(request)
        await writer.drain()
        answer = await reader.read()
    finally:
        writer.close()
        await writer.wait_closed()
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body
