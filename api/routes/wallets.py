"""/api/v1 routes of the wallets area (api.md "Resources": wallets, Sign-In with Ethereum)."""

from __future__ import annotations

import uuid

from accounts import wallets
from api.pagination import Page, PageQuery, paginate
from api.ratelimit import RateLimit
from api.registry import Call, Routes
from api.schemas.wallets import ChallengeIn, ChallengeOut, WalletIn, WalletOut

routes = Routes("wallets")

# Each challenge holds a nonce in Redis for 10 minutes: fewer of them per client than requests.
CHALLENGE_LIMIT = RateLimit("wallet_challenge", 20, 60)


@routes.post("/wallets/challenge", rate_limit=CHALLENGE_LIMIT)
async def create_challenge(call: Call, body: ChallengeIn) -> ChallengeOut:
    """An EIP-4361 message for the wallet to sign.

    Its nonce serves once and for 10 minutes. The message names this server's domain, URI and
    chain id; sign it with the wallet (EIP-191 personal_sign) and send it to POST /wallets.
    An address another account has verified is 409 WALLET_OWNED_BY_ANOTHER_USER."""
    challenge = await wallets.issue_challenge(
        call.session,
        redis=call.redis,
        user_id=call.user.id,
        address=body.address,
        site=await wallets.site_of(call.settings),
    )
    return ChallengeOut.of(challenge)


@routes.post("/wallets", status=201)
async def link_wallet(call: Call, body: WalletIn) -> WalletOut:
    """Link a wallet by its signed challenge; it is verified from then on.

    Refused (422) when the message is malformed (INVALID_SIWE_MESSAGE), its nonce unknown,
    used or not mine (CHALLENGE_INVALID), expired (CHALLENGE_EXPIRED), for another domain, URI,
    chain or address (DOMAIN_MISMATCH, URI_MISMATCH, CHAIN_ID_MISMATCH, ADDRESS_MISMATCH), or
    not signed by the address (SIGNATURE_INVALID). A nonce is spent by its first use, whatever
    the outcome. An address another account verified is 409 WALLET_OWNED_BY_ANOTHER_USER.
    Chain events that waited for this wallet (stakes, follows, registrations) are applied."""
    wallet = await wallets.link_wallet(
        call.session,
        redis=call.redis,
        user_id=call.user.id,
        message=body.message,
        signature=body.signature,
        site=await wallets.site_of(call.settings),
    )
    return WalletOut.from_row(wallet)


@routes.get("/wallets")
async def list_wallets(call: Call, query: PageQuery) -> Page[WalletOut]:
    """My wallets, newest first."""
    return await paginate(call.session, wallets.wallets_of(call.user.id), query, WalletOut.from_row)


@routes.delete("/wallets/{wallet_id}")
async def delete_wallet(call: Call, wallet_id: uuid.UUID) -> None:
    """Unlink one of my wallets.

    Records already derived from it stay; its later chain events wait until the address is
    verified again."""
    await wallets.remove_wallet(call.session, user_id=call.user.id, wallet_id=wallet_id)
