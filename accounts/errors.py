"""What the accounts domain refuses."""

from __future__ import annotations

import uuid

from gr8d.errors import DomainError, ErrorKind


class InvalidToken(DomainError):
    kind = ErrorKind.UNAUTHENTICATED
    code = "INVALID_TOKEN"


class CredentialNotFound(DomainError):
    kind = ErrorKind.NOT_FOUND
    code = "CREDENTIAL_NOT_FOUND"

    def __init__(self, credential_id: uuid.UUID) -> None:
        super().__init__(f"credential {credential_id} not found")
        self.credential_id = credential_id


class CredentialUnreadable(DomainError):
    """A stored credential that no longer decrypts: altered, moved to another row or owner, or
    sealed with a key that is no longer configured. The owner must enter it again."""

    kind = ErrorKind.CONFLICT
    code = "CREDENTIAL_UNREADABLE"

    def __init__(self, credential_id: uuid.UUID, reason: str) -> None:
        super().__init__(f"credential {credential_id} cannot be decrypted: {reason}")
        self.credential_id = credential_id


class ChargeReferenceReused(DomainError):
    """A charge's reference was already used for a different amount."""

    kind = ErrorKind.CONFLICT
    code = "CHARGE_REFERENCE_REUSED"

    def __init__(self, reference: str, charged: int) -> None:
        super().__init__(f"reference {reference!r} already charged {charged} credits")
        self.reference = reference
        self.charged = charged


class EmailTaken(DomainError):
    kind = ErrorKind.CONFLICT
    code = "EMAIL_TAKEN"

    def __init__(self) -> None:
        super().__init__("an account with this email already exists")


class InvalidCredentials(DomainError):
    """Unknown email, wrong password or deactivated account: one answer for all three."""

    kind = ErrorKind.UNAUTHENTICATED
    code = "INVALID_CREDENTIALS"

    def __init__(self) -> None:
        super().__init__("the email or the password is wrong")


class AccountLocked(DomainError):
    kind = ErrorKind.LOCKED
    code = "ACCOUNT_LOCKED"

    def __init__(self, retry_after: int) -> None:
        super().__init__("too many failed logins; try again later")
        self.retry_after = retry_after


class InvalidRefreshToken(DomainError):
    kind = ErrorKind.UNAUTHENTICATED
    code = "INVALID_REFRESH_TOKEN"

    def __init__(self) -> None:
        super().__init__("the refresh token is missing, invalid or expired")


class RefreshTokenReused(DomainError):
    """A consumed refresh token came back: someone holds a copy, so every session ends."""

    kind = ErrorKind.UNAUTHENTICATED
    code = "REFRESH_TOKEN_REUSED"

    def __init__(self) -> None:
        super().__init__("the refresh token was already used; every session was signed out")


class WrongPassword(DomainError):
    kind = ErrorKind.FORBIDDEN
    code = "WRONG_PASSWORD"

    def __init__(self) -> None:
        super().__init__("the current password is wrong")


class UserNotFound(DomainError):
    kind = ErrorKind.NOT_FOUND
    code = "USER_NOT_FOUND"

    def __init__(self, who: uuid.UUID | str) -> None:
        super().__init__(f"user {who} not found")
        self.who = who


class OwnAdminRights(DomainError):
    """An administrator may not demote or deactivate themselves (someone must stay admin)."""

    kind = ErrorKind.CONFLICT
    code = "OWN_ADMIN_RIGHTS"

    def __init__(self) -> None:
        super().__init__("administrators cannot demote or deactivate their own account")


# --- wallets (Sign-In with Ethereum) -------------------------------------------------------


class InvalidAddress(DomainError):
    code = "INVALID_ADDRESS"

    def __init__(self) -> None:
        super().__init__("not a 0x-hex Ethereum address of 20 bytes")


class MalformedSiweMessage(DomainError):
    code = "INVALID_SIWE_MESSAGE"


class ChallengeInvalid(DomainError):
    """The nonce was never issued to this user, was already used, or has lapsed in Redis."""

    code = "CHALLENGE_INVALID"

    def __init__(self) -> None:
        super().__init__("the challenge is unknown, already used or lapsed; ask for a new one")


class ChallengeExpired(DomainError):
    code = "CHALLENGE_EXPIRED"

    def __init__(self) -> None:
        super().__init__("the challenge has expired; ask for a new one")


class ChallengeNotYetValid(DomainError):
    code = "CHALLENGE_NOT_YET_VALID"

    def __init__(self) -> None:
        super().__init__("the message is not valid yet (Not Before)")


class SiweFieldMismatch(DomainError):
    """A field of the signed message is not what this server issues: the signature was made
    for another site, chain or wallet."""

    def __init__(self, field: str, found: str, expected: str) -> None:
        super().__init__(f"{field} is {found!r}; this server expects {expected!r}")


class DomainMismatch(SiweFieldMismatch):
    code = "DOMAIN_MISMATCH"


class UriMismatch(SiweFieldMismatch):
    code = "URI_MISMATCH"


class ChainIdMismatch(SiweFieldMismatch):
    code = "CHAIN_ID_MISMATCH"


class AddressMismatch(SiweFieldMismatch):
    code = "ADDRESS_MISMATCH"


class SignatureInvalid(DomainError):
    code = "SIGNATURE_INVALID"

    def __init__(self) -> None:
        super().__init__("the signature is not the message's address signing this message")


class WalletOwnedByAnotherUser(DomainError):
    kind = ErrorKind.CONFLICT
    code = "WALLET_OWNED_BY_ANOTHER_USER"

    def __init__(self) -> None:
        super().__init__("this address is already verified by another account")


class WalletNotFound(DomainError):
    kind = ErrorKind.NOT_FOUND
    code = "WALLET_NOT_FOUND"

    def __init__(self) -> None:
        super().__init__("no such wallet")


class ChainConfigurationUnreadable(DomainError):
    kind = ErrorKind.UNAVAILABLE
    code = "CHAIN_CONFIGURATION_UNREADABLE"
