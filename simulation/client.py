"""The API as a client meets it: JSON over HTTP, problem details on refusal, Retry-After obeyed."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import aiohttp

MAX_RATE_LIMIT_WAIT_SECONDS = 65.0


class ApiRefused(Exception):
    """The API answered with a problem the simulation did not expect."""

    def __init__(self, method: str, path: str, status: int, body: Any) -> None:
        code = body.get("code") if isinstance(body, dict) else None
        detail = body.get("detail") if isinstance(body, dict) else body
        super().__init__(f"{method} {path} → {status} {code}: {detail}")
        self.status = status
        self.code = code


@dataclass
class Caller:
    """Who sends a request: a bearer token and the client address a trusted proxy reports."""

    token: str | None = None
    client_ip: str | None = None

    def headers(self) -> dict[str, str]:
        headers = {}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        if self.client_ip:
            headers["X-Forwarded-For"] = self.client_ip
        return headers


class ApiClient:
    def __init__(self, session: aiohttp.ClientSession, base_url: str) -> None:
        self.session = session
        self.base_url = base_url.rstrip("/")

    async def request(
        self,
        method: str,
        path: str,
        caller: Caller,
        *,
        json: Any = None,
        params: dict[str, str] | None = None,
        expect: tuple[int, ...] = (200, 201, 204),
    ) -> Any:
        waited = 0.0
        while True:
            async with self.session.request(
                method,
                self.base_url + path,
                json=json,
                params=params,
                headers=caller.headers(),
            ) as response:
                body = await response.json(content_type=None) if response.content_length else None
                if response.status == 429 and waited < MAX_RATE_LIMIT_WAIT_SECONDS:
                    delay = float(response.headers.get("Retry-After", "1"))
                    waited += delay
                    await asyncio.sleep(delay)
                    continue
                if response.status not in expect:
                    raise ApiRefused(method, path, response.status, body)
                return body

    async def get(self, path: str, caller: Caller, **options: Any) -> Any:
        return await self.request("GET", path, caller, **options)

    async def post(self, path: str, caller: Caller, **options: Any) -> Any:
        return await self.request("POST", path, caller, **options)
