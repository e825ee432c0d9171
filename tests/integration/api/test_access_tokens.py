"""Access tokens as the API checks them on every request: the claims of a token verified once
are kept (api/authentication.py), and its expiry still ends it to the second."""

from __future__ import annotations

import asyncio
import datetime as dt

from aiohttp.test_utils import TestClient

from accounts.tokens import ACCESS_TOKEN_SECONDS, issue_access_token
from gr8d.config import Settings
from tests.integration.api.conftest import SignIn

Client = TestClient[object, object]


async def test_a_token_accepted_before_it_expired_is_refused_once_it_has(
    client: Client, sign_in: SignIn, api_settings: Settings
) -> None:
    me = await sign_in()
    issued = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=ACCESS_TOKEN_SECONDS - 2)
    token, claims = issue_access_token(
        me.user_id, secret=api_settings.jwt_secret_key, issuer=api_settings.jwt_issuer, now=issued
    )
    headers = {"Authorization": f"Bearer {token}"}

    before = await client.get("/api/v1/users/me", headers=headers)
    await asyncio.sleep((claims.expires_at - dt.datetime.now(dt.UTC)).total_seconds() + 0.1)
    after = await client.get("/api/v1/users/me", headers=headers)

    assert before.status == 200
    assert after.status == 401
    assert (await after.json())["code"] == "NOT_AUTHENTICATED"
