"""What the strategies domain refuses."""

from __future__ import annotations

import uuid
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


# --- executions ---------------------------------------------------------------------------


class ExecutionNotFound(DomainError):
    kind = ErrorKind.NOT_FOUND
    code = "EXECUTION_NOT_FOUND"

    def __init__(self, execution_id: uuid.UUID) -> None:
        super().__init__(f"execution {execution_id} does not exist")
        self.execution_id = execution_id


class ExecutionNotCancellable(DomainError):
    kind = ErrorKind.CONFLICT
    code = "EXECUTION_NOT_PENDING"

    def __init__(self, execution_id: uuid.UUID, status: str) -> None:
        super().__init__(f"execution {execution_id} is {status}; only a PENDING one can change")
        self.execution_id = execution_id
        self.status = status


class ExecutionFinal(DomainError):
    """A report that would change an execution that is already final."""

    kind = ErrorKind.CONFLICT
    code = "EXECUTION_FINAL"

    def __init__(self, exchange_order_id: str, status: str, reported: str) -> None:
        super().__init__(
            f"order {exchange_order_id} is {status} already; a {reported} report with other "
            "values cannot change it"
        )
        self.exchange_order_id = exchange_order_id
        self.status = status
        self.reported = reported


class ExecutionMismatch(DomainError):
    """A report for a known order whose identity (user, strategy, symbol, side, type,
    amount) differs from the stored one: two orders sharing an exchange order id."""

    kind = ErrorKind.CONFLICT
    code = "EXECUTION_MISMATCH"

    def __init__(self, exchange_order_id: str, fields: list[str]) -> None:
        super().__init__(
            f"order {exchange_order_id} is stored with other {', '.join(fields)}; "
            "its identity cannot change"
        )
        self.exchange_order_id = exchange_order_id
        self.fields = fields


class InvalidExecutionReport(DomainError):
    code = "INVALID_EXECUTION_REPORT"

    def __init__(self, violations: list[str]) -> None:
        super().__init__("; ".join(violations))
        self.violations = violations


class UnknownExecutionUser(DomainError):
    code = "EXECUTION_USER_UNKNOWN"

    def __init__(self, user_id: uuid.UUID) -> None:
        super().__init__(f"user {user_id} does not exist")
        self.user_id = user_id


class UnknownExecutionStrategy(DomainError):
    code = "EXECUTION_STRATEGY_UNKNOWN"

    def __init__(self, strategy_id: uuid.UUID) -> None:
        super().__init__(f"strategy {strategy_id} does not exist")
        self.strategy_id = strategy_id


class UserNotOnStrategy(DomainError):
    """The user neither owns nor follows the strategy the order claims to come from."""

    code = "USER_NOT_ON_STRATEGY"

    def __init__(self, user_id: uuid.UUID, strategy_id: uuid.UUID) -> None:
        super().__init__(f"user {user_id} neither owns nor follows strategy {strategy_id}")
        self.user_id = user_id
        self.strategy_id = strategy_id


class FillDayClosed(DomainError):
    """A fill dated in a day whose settlement and Merkle roots are final."""

    kind = ErrorKind.CONFLICT
    code = "SETTLEMENT_DAY_CLOSED"

    def __init__(self, day: str) -> None:
        super().__init__(f"{day} is settled already; a fill dated in it can no longer be recorded")
        self.day = day


# --- templates and back-tests -------------------------------------------------------------


class TemplateNotFound(DomainError):
    """No such template, or one the caller may not see (an unpublished one of someone else)."""

    kind = ErrorKind.NOT_FOUND
    code = "TEMPLATE_NOT_FOUND"

    def __init__(self, template_id: uuid.UUID) -> None:
        super().__init__(f"template {template_id} not found")
        self.template_id = template_id


class TemplateAlreadyPublished(DomainError):
    kind = ErrorKind.CONFLICT
    code = "TEMPLATE_ALREADY_PUBLISHED"

    def __init__(self, template_id: uuid.UUID) -> None:
        super().__init__(f"the strategy is already published as template {template_id}")
        self.template_id = template_id


class TemplateInactive(DomainError):
    kind = ErrorKind.CONFLICT
    code = "TEMPLATE_INACTIVE"

    def __init__(self, template_id: uuid.UUID) -> None:
        super().__init__(f"template {template_id} is unpublished; publish the strategy again")
        self.template_id = template_id


class OwnTemplate(DomainError):
    kind = ErrorKind.CONFLICT
    code = "OWN_TEMPLATE"

    def __init__(self, template_id: uuid.UUID) -> None:
        super().__init__(f"template {template_id} is your own; it cannot be cloned by you")
        self.template_id = template_id


class BacktestNotFound(DomainError):
    kind = ErrorKind.NOT_FOUND
    code = "BACKTEST_NOT_FOUND"

    def __init__(self, backtest_id: uuid.UUID) -> None:
        super().__init__(f"back-test {backtest_id} not found")
        self.backtest_id = backtest_id


class InvalidBacktestTransition(DomainError):
    kind = ErrorKind.CONFLICT
    code = "INVALID_BACKTEST_TRANSITION"

    def __init__(self, current: str, wanted: str) -> None:
        super().__init__(f"a {current} back-test cannot become {wanted}")
        self.current = current
        self.wanted = wanted


class BacktestRunning(DomainError):
    kind = ErrorKind.CONFLICT
    code = "BACKTEST_RUNNING"

    def __init__(self, backtest_id: uuid.UUID) -> None:
        super().__init__(f"back-test {backtest_id} is running; delete it once it has finished")
        self.backtest_id = backtest_id
