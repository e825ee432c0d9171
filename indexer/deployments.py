"""The deployments file (chain.md, "Where the contracts are"): where the protocol's contracts
are and where indexing starts. Kept apart from indexer/devchain.py so that the indexer reads
it without importing web3 and eth_account, which only the dev chain needs.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from eth_typing import ChecksumAddress
from eth_utils.address import is_address, to_checksum_address

# Where the dev chain (indexer/devchain.py) listens unless told otherwise.
DEFAULT_PORT: Final = 8545
DEFAULT_HOST: Final = "127.0.0.1"

CONTRACT_NAMES: Final = (
    "G8DToken",
    "USDT0",
    "G8DStaking",
    "StrategyRegistry",
    "FollowRegistry",
    "DecisionHistory",
    "SettlementManager",
    "FeeDistributor",
)
"""The contracts of the deployments file, in chain.md's order."""


class DeploymentsFileError(ValueError):
    """A deployments file that does not have chain.md's shape."""


@dataclass(frozen=True, slots=True)
class Deployments:
    """The deployments file of chain.md: where the contracts are and where indexing starts.

    ``start_block`` is the block of the first deployment transaction (inclusive): no log of
    these contracts can be older, so the indexer starts there. ``contracts`` maps chain.md's
    names to checksum addresses; a name may be missing (that contract is not indexed).
    """

    chain_id: int
    start_block: int
    contracts: Mapping[str, ChecksumAddress] = field(default_factory=dict)

    def to_json(self) -> str:
        known = [name for name in CONTRACT_NAMES if name in self.contracts]
        document = {
            "chain_id": self.chain_id,
            "start_block": self.start_block,
            "contracts": {name: self.contracts[name] for name in known},
        }
        return json.dumps(document, indent=2) + "\n"

    def write(self, path: Path) -> None:
        """Write atomically: readers see the old file or the new one, never half of one."""
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(
            prefix=f".{path.name}.", suffix=".tmp", dir=path.parent
        )
        try:
            with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
                handle.write(self.to_json())
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise

    @classmethod
    def from_json(cls, text: str) -> Deployments:
        try:
            document = json.loads(text)
        except ValueError as error:
            raise DeploymentsFileError(f"not JSON: {error}") from None
        if not isinstance(document, dict):
            raise DeploymentsFileError("not a JSON object")
        chain_id = _non_negative_int(document, "chain_id")
        start_block = _non_negative_int(document, "start_block")
        contracts = document.get("contracts", {})
        if not isinstance(contracts, dict):
            raise DeploymentsFileError('"contracts" is not an object')
        addresses: dict[str, ChecksumAddress] = {}
        for name, address in contracts.items():
            if name not in CONTRACT_NAMES:
                raise DeploymentsFileError(
                    f"unknown contract {name!r} (known: {', '.join(CONTRACT_NAMES)})"
                )
            if not isinstance(address, str) or not is_address(address):
                raise DeploymentsFileError(f"{name}: {address!r} is not an address")
            addresses[name] = to_checksum_address(address)
        return cls(chain_id=chain_id, start_block=start_block, contracts=addresses)

    @classmethod
    def read(cls, path: Path) -> Deployments:
        """The file at ``path``; DeploymentsFileError (naming the file) when it is malformed."""
        try:
            return cls.from_json(path.read_text(encoding="utf-8"))
        except OSError as error:
            raise DeploymentsFileError(f"{path}: unreadable: {error.strerror}") from None
        except DeploymentsFileError as error:
            raise DeploymentsFileError(f"{path}: {error}") from None


def _non_negative_int(document: Mapping[str, Any], key: str) -> int:
    value = document.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise DeploymentsFileError(f'"{key}" must be a non-negative integer, not {value!r}')
    return value
