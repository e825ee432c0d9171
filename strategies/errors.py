"""What the strategies domain refuses."""

from __future__ import annotations

from collections.abc import Sequence

from gr8d.errors import DomainError, ErrorKind
from strategies.definitions import Violation


class StrategyNotFound(DomainError):
    """No such strategy, or not one the caller may see (never told apart: no 403 leak)."""

    kind = ErrorKind.NOT_FOUND
    code = "STRATEGY_NOT_FOUND"

    def __init__(self) -> None:
        super().__init__("no such strategy")


class InvalidDefinition(DomainError):
    """The definition breaks rules of api.md "Strategy definitions"; `violations` lists all."""

    kind = ErrorKind.INVALID
    code = "INVALID_DEFINITION"

    def __init__(self, violations: Sequence[Violation], *, deploying: bool) -> None:
        self.violations = list(violations)
        action = "deployed" if deploying else "saved"
        count = len(self.violations)
        super().__init__(f"the definition cannot be {action}: {count} rule(s) broken")

    @property
    def single_code(self) -> str:
        """The one code all violations share, else the general INVALID_DEFINITION."""
        found = {violation.code for violation in self.violations}
        return str(found.pop()) if len(found) == 1 else self.code


class InvalidStatusTransition(DomainError):
    kind = ErrorKind.CONFLICT
    code = "INVALID_STATUS_TRANSITION"

    def __init__(self, current: str, wanted: str) -> None:
        super().__init__(f"a {current} strategy cannot become {wanted}")


class StrategyArchived(DomainError):
    kind = ErrorKind.CONFLICT
    code = "STRATEGY_ARCHIVED"

    def __init__(self) -> None:
        super().__init__("the strategy is archived and can no longer change")


class DefinitionLocked(DomainError):
    """A deployed strategy runs its definition; it is paused before the definition changes."""

    kind = ErrorKind.CONFLICT
    code = "STRATEGY_DEPLOYED"

    def __init__(self) -> None:
        super().__init__("pause the strategy before changing its definition")


class RegistrationNotFound(DomainError):
    kind = ErrorKind.NOT_FOUND
    code = "REGISTRATION_NOT_FOUND"

    def __init__(self) -> None:
        super().__init__("the strategy has no on-chain registration")


class AlreadyRegistered(DomainError):
    kind = ErrorKind.CONFLICT
    code = "ALREADY_REGISTERED"

    def __init__(self) -> None:
        super().__init__("the strategy is already registered on chain")


class VerifiedWalletRequired(DomainError):
    """The chain only accepts a registration made from a verified wallet of the author."""

    kind = ErrorKind.CONFLICT
    code = "VERIFIED_WALLET_REQUIRED"

    def __init__(self) -> None:
        super().__init__("link and verify a wallet (POST /wallets) before registering on chain")
