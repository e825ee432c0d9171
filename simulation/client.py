"""The API as a client meets it: JSON over HTTP, problem details on refusal, Retry-After obeyed."""

from __future__ import annotations

import asyncio
import ipaddress
import secrets
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


@dataclass(frozen=True)
class ClientAddresses:
    """The addresses simulated people call from (as X-Forwarded-For behind a trusted proxy): a
    /64 of IPv6's documentation prefix (2001:db8::/32, RFC 3849), drawn afresh for each run, so
    that the per-address rate-limit counters one run leaves in Redis (minutes long) never slow
    the next run down, however many people it simulates."""

    network: ipaddress.IPv6Network

    @classmethod
    def fresh(cls) -> ClientAddresses:
        first, second = secrets.randbits(16), secrets.randbits(16)
        return cls(ipaddress.IPv6Network(f"2001:db8:{first:x}:{second:x}::/64"))

    def of_person(self, index: int) -> str:
        return str(self.network[index + 1])

    @property
    def operator(self) -> str:
        """The address of the operator's own calls (admin checks)."""
        return str(self.network[-2])


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
