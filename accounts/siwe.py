"""Sign-In with Ethereum (EIP-4361) messages: written, read back, and their EIP-191 signer.

The `siwe` package would do this, but every release pins web3 below 8 (we run web3 8), so the
message grammar is implemented here from the EIP's ABNF and the signature is recovered with
eth-account (`encode_defunct` + `Account.recover_message`), which web3 already brings.

    ${domain} wants you to sign in with your Ethereum account:
    ${address}

    ${statement}

    URI: ${uri}
    Version: 1
    Chain ID: ${chain-id}
    Nonce: ${nonce}
    Issued At: ${issued-at}
    Expiration Time: ${expiration-time}     (optional, as are the fields below)
    Not Before: ${not-before}
    Request ID: ${request-id}
    Resources:
    - ${resource}

Smart-contract wallets (EIP-1271) are not supported: only externally owned accounts sign here.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

from eth_account import Account
from eth_account.messages import encode_defunct
from eth_keys.exceptions import BadSignature
from eth_utils.address import to_checksum_address

VERSION = "1"

_HEADER = " wants you to sign in with your Ethereum account:"
_MESSAGE = re.compile(
    r"(?:(?P<scheme>[a-zA-Z][a-zA-Z0-9+\-.]*)://)?(?P<domain>[^\s/?#]+)"
    + re.escape(_HEADER)
    + r"\n(?P<address>0x[0-9a-fA-F]{40})\n\n"
    r"(?:(?P<statement>[^\n]+)\n)?\n"
    r"URI: (?P<uri>[^\s]+)\n"
    r"Version: (?P<version>[^\n]+)\n"
    r"Chain ID: (?P<chain_id>[0-9]{1,20})\n"
    r"Nonce: (?P<nonce>[a-zA-Z0-9]{8,128})\n"
    r"Issued At: (?P<issued_at>[^\n]+)"
    r"(?:\nExpiration Time: (?P<expiration_time>[^\n]+))?"
    r"(?:\nNot Before: (?P<not_before>[^\n]+))?"
    r"(?:\nRequest ID: (?P<request_id>[^\n]*))?"
    r"(?:\nResources:(?P<resources>(?:\n- [^\s]+)*))?"
)


class SiweFormatError(ValueError):
    """The text is not an EIP-4361 message; the message says which part is wrong."""


@dataclass(frozen=True, slots=True)
class SiweMessage:
    domain: str
    address: str  # as written in the message (EIP-55 when we write it)
    uri: str
    chain_id: int
    nonce: str
    issued_at: dt.datetime
    statement: str | None = None
    version: str = VERSION
    expiration_time: dt.datetime | None = None
    not_before: dt.datetime | None = None
    request_id: str | None = None
    resources: tuple[str, ...] = field(default_factory=tuple)
    scheme: str | None = None

    def text(self) -> str:
        """The message as the wallet shows and signs it."""
        authority = f"{self.scheme}://{self.domain}" if self.scheme else self.domain
        lines = [authority + _HEADER, self.address, ""]
        if self.statement is not None:
            lines.append(self.statement)
        lines += [
            "",
            f"URI: {self.uri}",
            f"Version: {self.version}",
            f"Chain ID: {self.chain_id}",
            f"Nonce: {self.nonce}",
            f"Issued At: {_timestamp(self.issued_at)}",
        ]
        if self.expiration_time is not None:
            lines.append(f"Expiration Time: {_timestamp(self.expiration_time)}")
        if self.not_before is not None:
            lines.append(f"Not Before: {_timestamp(self.not_before)}")
        if self.request_id is not None:
            lines.append(f"Request ID: {self.request_id}")
        if self.resources:
            lines.append("Resources:")
            lines += [f"- {resource}" for resource in self.resources]
        return "\n".join(lines)


def _timestamp(moment: dt.datetime) -> str:
    """RFC 3339 in UTC with a Z, to the second (what wallets display best)."""
    return moment.astimezone(dt.UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def _optional_moment(value: str | None, name: str) -> dt.datetime | None:
    return None if value is None else _moment(value, name)


def _moment(value: str, name: str) -> dt.datetime:
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        raise SiweFormatError(f"{name} is not an RFC 3339 date-time") from None
    if moment.tzinfo is None:
        raise SiweFormatError(f"{name} needs a time zone")
    return moment


def parse(text: str) -> SiweMessage:
    """An EIP-4361 message read back from its text; SiweFormatError when it is not one."""
    match = _MESSAGE.fullmatch(text)
    if match is None:
        raise SiweFormatError("the message does not follow EIP-4361")
    fields = match.groupdict()
    if fields["version"] != VERSION:
        raise SiweFormatError(f"version {fields['version']!r} is not {VERSION}")
    resources = fields["resources"] or ""
    return SiweMessage(
        scheme=fields["scheme"],
        domain=fields["domain"],
        address=fields["address"],
        statement=fields["statement"],
        uri=fields["uri"],
        version=fields["version"],
        chain_id=int(fields["chain_id"]),
        nonce=fields["nonce"],
        issued_at=_moment(fields["issued_at"], "Issued At"),
        expiration_time=_optional_moment(fields["expiration_time"], "Expiration Time"),
        not_before=_optional_moment(fields["not_before"], "Not Before"),
        request_id=fields["request_id"],
        resources=tuple(line[2:] for line in resources.split("\n") if line),
    )


def signer_of(text: str, signature: str) -> str | None:
    """The lower-case address whose key made this EIP-191 personal signature of `text`, or
    None when the signature is malformed or recovers no key."""
    try:
        address = Account.recover_message(
            encode_defunct(text=text), signature=bytes.fromhex(signature.removeprefix("0x"))
        )
    except (BadSignature, ValueError, TypeError):
        return None
    return str(address).lower()


def checksum(address: str) -> str:
    """EIP-55 form of a 0x-hex address."""
    return str(to_checksum_address(address))
