"""The one settings object, read from environment variables (and `.env` in development)."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import ipaddress
import os
from enum import StrEnum
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

# Development defaults for secrets: convenient locally, refused in production.
DEV_JWT_SECRET_KEY = "dev-only-jwt-secret-key-change-me-in-production"
DEV_CREDENTIALS_ENCRYPTION_KEY = (
    "dev:" + base64.b64encode(b"gr8d-dev-only-aes-key-32-bytes!!").decode()
)
DEV_INTERNAL_API_TOKEN = "dev-only-internal-api-token"
DEV_SECRETS = {
    "JWT_SECRET_KEY": DEV_JWT_SECRET_KEY,
    "CREDENTIALS_ENCRYPTION_KEY": DEV_CREDENTIALS_ENCRYPTION_KEY,
    "INTERNAL_API_TOKEN": DEV_INTERNAL_API_TOKEN,
}
MIN_PRODUCTION_SECRET_LENGTH = 32


class AppEnv(StrEnum):
    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


class SslMode(StrEnum):
    """libpq's sslmode values, which asyncpg accepts as its `ssl` argument."""

    DISABLE = "disable"
    ALLOW = "allow"
    PREFER = "prefer"
    REQUIRE = "require"
    VERIFY_CA = "verify-ca"
    VERIFY_FULL = "verify-full"


class LogFormat(StrEnum):
    JSON = "json"
    CONSOLE = "console"


class ConfigError(Exception):
    """A configuration variable is missing or invalid; `str()` is the one-line reason."""

    def __init__(self, variable: str, reason: str) -> None:
        super().__init__(f"{variable}: {reason}")
        self.variable = variable
        self.reason = reason


def _split_commas(value: Any) -> Any:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


CommaList = Annotated[list[str], NoDecode]


class Settings(BaseSettings):
    # No env_file here: load_settings passes `.env` only in development (operations.md).
    model_config = SettingsConfigDict(
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
        frozen=True,
    )

    app_env: AppEnv = AppEnv.DEVELOPMENT

    database_url: str | None = None
    database_ssl: SslMode | None = None
    database_pool_size: int = Field(default=10, ge=1, le=1000)
    redis_url: str | None = None

    rpc_urls: CommaList = Field(default_factory=list)
    deployments_file: str | None = None
    confirmations: int = Field(default=10, ge=0)
    max_reorg_depth: int = Field(default=64, ge=1)
    blockchain_enabled: bool = False

    jwt_secret_key: str = DEV_JWT_SECRET_KEY
    jwt_issuer: str = "gr8d"
    credentials_encryption_key: str = DEV_CREDENTIALS_ENCRYPTION_KEY
    internal_api_token: str = DEV_INTERNAL_API_TOKEN
    trusted_proxies: CommaList = Field(default_factory=list)
    cors_origins: CommaList = Field(default_factory=list)
    # Requests per minute per client IP on routes without a limit of their own (api.md: 100).
    api_rate_limit_per_minute: int = Field(default=100, ge=1)
    api_host: str = "127.0.0.1"
    api_port: int = Field(default=8080, ge=1, le=65535)
    # Processes of `gr8d api` on the one port (SO_REUSEPORT), each with its own database pool
    # (the API's keeps up to 2 x DATABASE_POOL_SIZE connections); `gr8d run` serves with one.
    api_workers: int = Field(default=1, ge=1, le=64)
    # Sign-In with Ethereum (wallet linking): the site a signed message must name. The chain id
    # comes from DEPLOYMENTS_FILE (Monad testnet's 10143 without one).
    siwe_domain: str = "localhost"
    siwe_uri: str = "http://localhost"

    base_fee_bps: int = Field(default=20, ge=0, le=10_000)
    credits_per_usdt0: int = Field(default=100, ge=1)
    backtest_cost_credits: int = Field(default=10, ge=0)
    settlement_start_day: dt.date | None = None
    settlement_expiry_days: int = Field(default=7, ge=1)
    royalty_auto_pay: bool = True
    relayer_private_key: str | None = Field(default=None, repr=False)

    log_level: str = "INFO"
    log_format: LogFormat | None = None

    @field_validator("rpc_urls", "trusted_proxies", "cors_origins", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        return _split_commas(value)

    @field_validator("database_url")
    @classmethod
    def _asyncpg_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if value.startswith(("postgresql://", "postgres://")):
            value = "postgresql+asyncpg://" + value.split("://", 1)[1]
        if not value.startswith("postgresql+asyncpg://"):
            raise ValueError("must be a postgresql+asyncpg:// URL")
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must be a redis://, rediss:// or unix:// URL")
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for item in value:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError as exc:
                raise ValueError(f"{item!r} is not an IP address or CIDR range") from exc
        return value

    @field_validator("rpc_urls")
    @classmethod
    def _http_endpoints(cls, value: list[str]) -> list[str]:
        for url in value:
            parts = urlsplit(url)
            if parts.scheme not in {"http", "https"} or not parts.hostname:
                raise ValueError(f"{url!r} is not an http:// or https:// URL of a JSON-RPC node")
        return value

    @field_validator("cors_origins")
    @classmethod
    def _origins(cls, value: list[str]) -> list[str]:
        # Browsers send the bare origin, so anything else (a path, a trailing slash, "*",
        # which credentials forbid anyway) would never match and CORS would fail silently.
        for origin in value:
            parts = urlsplit(origin)
            bare = f"{parts.scheme}://{parts.netloc}"
            if parts.scheme not in {"http", "https"} or not parts.hostname or origin != bare:
                raise ValueError(
                    f"{origin!r} is not an origin: scheme://host[:port], http or https, no path"
                )
        return value

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return level

    @field_validator("credentials_encryption_key")
    @classmethod
    def _aes_keys(cls, value: str) -> str:
        parse_encryption_keys(value)
        return value

    @model_validator(mode="after")
    def _production_secrets(self) -> Settings:
        if self.app_env is not AppEnv.PRODUCTION:
            return self
        for variable, dev_value in DEV_SECRETS.items():
            value = getattr(self, variable.lower())
            if value == dev_value:
                raise ValueError(f"{variable}: the development default is refused in production")
            if len(value) < MIN_PRODUCTION_SECRET_LENGTH:
                raise ValueError(
                    f"{variable}: must be at least {MIN_PRODUCTION_SECRET_LENGTH} characters "
                    "in production"
                )
        # Listed as an old key to rotate from, the development key still decrypts: anything
        # stored under it is readable by whoever has this code.
        dev_keys = set(parse_encryption_keys(DEV_CREDENTIALS_ENCRYPTION_KEY).values())
        if dev_keys & set(parse_encryption_keys(self.credentials_encryption_key).values()):
            raise ValueError(
                "CREDENTIALS_ENCRYPTION_KEY: the development key is refused in production, "
                "also as a rotation key"
            )
        if self.database_url is None:
            raise ValueError("DATABASE_URL: required in production")
        if self.redis_url is None:
            raise ValueError("REDIS_URL: required in production")
        return self

    @property
    def effective_database_ssl(self) -> SslMode:
        """`disable` in development and test, `prefer` in production, unless DATABASE_SSL says."""
        if self.database_ssl is not None:
            return self.database_ssl
        return SslMode.PREFER if self.app_env is AppEnv.PRODUCTION else SslMode.DISABLE

    @property
    def effective_log_format(self) -> LogFormat:
        if self.log_format is not None:
            return self.log_format
        return LogFormat.JSON if self.app_env is AppEnv.PRODUCTION else LogFormat.CONSOLE

    def require_database_url(self) -> str:
        if self.database_url is None:
            raise ConfigError("DATABASE_URL", "not set")
        return self.database_url

    def require_redis_url(self) -> str:
        if self.redis_url is None:
            raise ConfigError("REDIS_URL", "not set")
        return self.redis_url


def parse_encryption_keys(value: str) -> dict[str, bytes]:
    """`id:base64key` pairs (comma-separated) or one bare base64 key (id "0"); each 32 bytes."""
    keys: dict[str, bytes] = {}
    for item in _split_commas(value):
        key_id, _, encoded = item.rpartition(":")
        key_id = key_id or "0"
        try:
            raw = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValueError(f"key {key_id!r} is not valid base64") from exc
        if len(raw) != 32:
            raise ValueError(f"key {key_id!r} must decode to 32 bytes, not {len(raw)}")
        if key_id in keys:
            raise ValueError(f"key id {key_id!r} appears twice")
        keys[key_id] = raw
    if not keys:
        raise ValueError("at least one key is required")
    return keys


def _variable_of(error: dict[str, Any]) -> str:
    location = error.get("loc") or ()
    return str(location[0]).upper() if location else ""


DOTENV_FILE = ".env"


def _dotenv_for(overrides: dict[str, Any]) -> str | None:
    """`.env` when the environment (not the file itself) says development, or says nothing."""
    app_env = overrides.get("app_env")
    if app_env is None:
        app_env = next(
            (value for name, value in os.environ.items() if name.upper() == "APP_ENV"),
            AppEnv.DEVELOPMENT,
        )
    return DOTENV_FILE if app_env == AppEnv.DEVELOPMENT else None


def load_settings(**overrides: Any) -> Settings:
    """Build the settings; any invalid or missing value becomes a one-line ConfigError."""
    # A caller (a test) may name the file itself, or None for none.
    dotenv = overrides.pop("_env_file") if "_env_file" in overrides else _dotenv_for(overrides)
    try:
        settings = Settings(_env_file=dotenv, **overrides)
    except ValidationError as exc:
        first = exc.errors()[0]
        message = str(first.get("msg", "invalid value")).removeprefix("Value error, ")
        variable = _variable_of(dict(first))
        if not variable and ":" in message:
            variable, _, message = message.partition(": ")
        raise ConfigError(variable or "configuration", message) from None
    if dotenv is not None and settings.app_env is not AppEnv.DEVELOPMENT:
        # The file was read because the environment said development; letting it switch to
        # production would run production on a developer's file.
        raise ConfigError(
            "APP_ENV", f"{DOTENV_FILE} is read in development only: set APP_ENV in the environment"
        )
    return settings
