from __future__ import annotations

import base64
import datetime as dt
import os
import subprocess
import sys

import pytest

from gr8d.config import (
    DEV_SECRETS,
    ConfigError,
    LogFormat,
    SslMode,
    load_settings,
    parse_encryption_keys,
)

STRONG = {
    "JWT_SECRET_KEY": "j" * 40,
    "CREDENTIALS_ENCRYPTION_KEY": "k1:" + base64.b64encode(b"k" * 32).decode(),
    "INTERNAL_API_TOKEN": "t" * 40,
    "DATABASE_URL": "postgresql+asyncpg://gr8d@db.internal/gr8d",
    "REDIS_URL": "redis://cache.internal:6379/0",
}


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: os.PathLike[str]) -> None:
    """Each test sees only the variables it sets (no developer .env, no CI URLs)."""
    for name in list(os.environ):
        if name.isupper() and name.split("_")[0] in {
            "APP",
            "DATABASE",
            "REDIS",
            "RPC",
            "JWT",
            "CREDENTIALS",
            "INTERNAL",
            "LOG",
            "SETTLEMENT",
            "BASE",
            "CREDITS",
            "TRUSTED",
            "CORS",
            "ROYALTY",
            "RELAYER",
            "BLOCKCHAIN",
            "CONFIRMATIONS",
            "MAX",
            "DEPLOYMENTS",
            "BACKTEST",
        }:
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def production(monkeypatch: pytest.MonkeyPatch, **overrides: str) -> None:
    monkeypatch.setenv("APP_ENV", "production")
    for name, value in {**STRONG, **overrides}.items():
        monkeypatch.setenv(name, value)


def test_development_is_the_default_with_ssl_disabled_and_console_logs() -> None:
    settings = load_settings()
    assert settings.app_env == "development"
    assert settings.effective_database_ssl is SslMode.DISABLE
    assert settings.effective_log_format is LogFormat.CONSOLE


def test_the_test_environment_also_disables_database_ssl(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("APP_ENV", "test")
    assert load_settings().effective_database_ssl is SslMode.DISABLE


def test_production_prefers_ssl_and_logs_json(monkeypatch: pytest.MonkeyPatch) -> None:
    production(monkeypatch)
    settings = load_settings()
    assert settings.effective_database_ssl is SslMode.PREFER
    assert settings.effective_log_format is LogFormat.JSON


def test_database_ssl_overrides_the_environment_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    production(monkeypatch, DATABASE_SSL="verify-full")
    assert load_settings().effective_database_ssl is SslMode.VERIFY_FULL
    monkeypatch.setenv("APP_ENV", "development")
    monkeypatch.setenv("DATABASE_SSL", "require")
    assert load_settings().effective_database_ssl is SslMode.REQUIRE


@pytest.mark.parametrize("variable", sorted(DEV_SECRETS))
def test_production_refuses_each_development_default_secret(
    monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    production(monkeypatch, **{variable: DEV_SECRETS[variable]})
    with pytest.raises(ConfigError) as refused:
        load_settings()
    assert refused.value.variable == variable
    assert "development default" in str(refused.value)


@pytest.mark.parametrize("variable", ["JWT_SECRET_KEY", "INTERNAL_API_TOKEN"])
def test_production_refuses_a_short_secret(monkeypatch: pytest.MonkeyPatch, variable: str) -> None:
    production(monkeypatch, **{variable: "short"})
    with pytest.raises(ConfigError) as refused:
        load_settings()
    assert refused.value.variable == variable


@pytest.mark.parametrize("variable", ["DATABASE_URL", "REDIS_URL"])
def test_production_requires_real_servers(monkeypatch: pytest.MonkeyPatch, variable: str) -> None:
    production(monkeypatch)
    monkeypatch.delenv(variable)
    with pytest.raises(ConfigError) as refused:
        load_settings()
    assert refused.value.variable == variable


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("APP_ENV", "staging"),
        ("DATABASE_SSL", "sometimes"),
        ("DATABASE_URL", "mysql://localhost/gr8d"),
        ("DATABASE_POOL_SIZE", "zero"),
        ("REDIS_URL", "http://localhost"),
        ("CONFIRMATIONS", "-1"),
        ("BASE_FEE_BPS", "10001"),
        ("SETTLEMENT_START_DAY", "2026-13-01"),
        ("ROYALTY_AUTO_PAY", "perhaps"),
        ("TRUSTED_PROXIES", "10.0.0.0/8,not-an-ip"),
        ("CREDENTIALS_ENCRYPTION_KEY", "k1:c2hvcnQ="),
        ("LOG_LEVEL", "LOUD"),
        ("LOG_FORMAT", "xml"),
        ("RPC_URLS", "http://a:8545,localhost:8545"),
        ("RPC_URLS", "ws://a:8546"),
        ("CORS_ORIGINS", "https://app.example.com/"),
        ("CORS_ORIGINS", "*"),
        ("CORS_ORIGINS", "ftp://app.example.com"),
    ],
)
def test_a_bad_value_is_one_error_naming_its_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as refused:
        load_settings()
    assert refused.value.variable == variable
    assert "\n" not in str(refused.value)


def test_lists_are_comma_separated_and_values_typed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RPC_URLS", "http://a:8545, http://b:8545")
    monkeypatch.setenv("TRUSTED_PROXIES", "10.0.0.1,192.168.0.0/16")
    monkeypatch.setenv("SETTLEMENT_START_DAY", "2026-11-01")
    monkeypatch.setenv("DATABASE_URL", "postgresql://u@h/db")
    monkeypatch.setenv("CORS_ORIGINS", "https://app.example.com,http://localhost:5173")
    settings = load_settings()
    assert settings.rpc_urls == ["http://a:8545", "http://b:8545"]
    assert settings.trusted_proxies == ["10.0.0.1", "192.168.0.0/16"]
    assert settings.settlement_start_day == dt.date(2026, 11, 1)
    assert settings.database_url == "postgresql+asyncpg://u@h/db"
    assert settings.cors_origins == ["https://app.example.com", "http://localhost:5173"]


def test_a_dotenv_file_is_read_in_development(
    monkeypatch: pytest.MonkeyPatch, tmp_path: os.PathLike[str]
) -> None:
    with open(os.path.join(tmp_path, ".env"), "w") as env_file:
        env_file.write("BASE_FEE_BPS=35\n")
    assert load_settings().base_fee_bps == 35


@pytest.mark.parametrize("app_env", ["production", "test"])
def test_a_dotenv_file_is_not_read_outside_development(
    monkeypatch: pytest.MonkeyPatch, tmp_path: os.PathLike[str], app_env: str
) -> None:
    with open(os.path.join(tmp_path, ".env"), "w") as env_file:
        env_file.write("BASE_FEE_BPS=35\nJWT_SECRET_KEY=" + "d" * 40 + "\n")
    production(monkeypatch, APP_ENV=app_env)
    settings = load_settings()
    assert settings.base_fee_bps == 20
    assert settings.jwt_secret_key == STRONG["JWT_SECRET_KEY"]


def test_a_dotenv_file_cannot_switch_to_production(
    monkeypatch: pytest.MonkeyPatch, tmp_path: os.PathLike[str]
) -> None:
    with open(os.path.join(tmp_path, ".env"), "w") as env_file:
        env_file.write("APP_ENV=production\n")
    production(monkeypatch)
    monkeypatch.delenv("APP_ENV")
    with pytest.raises(ConfigError) as refused:
        load_settings()
    assert refused.value.variable == "APP_ENV"


def test_encryption_keys_carry_ids_for_rotation() -> None:
    old, new = b"o" * 32, b"n" * 32
    value = f"old:{base64.b64encode(old).decode()},new:{base64.b64encode(new).decode()}"
    assert parse_encryption_keys(value) == {"old": old, "new": new}
    with pytest.raises(ValueError, match="appears twice"):
        parse_encryption_keys(
            f"a:{base64.b64encode(old).decode()},a:{base64.b64encode(new).decode()}"
        )


def test_the_command_line_exits_2_with_one_line_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DATABASE_SSL", "bogus")
    finished = subprocess.run(
        [sys.executable, "-m", "gr8d", "migrate"], capture_output=True, text=True, timeout=60
    )
    assert finished.returncode == 2
    lines = finished.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("gr8d: configuration error: DATABASE_SSL:")


def test_production_refuses_the_development_key_among_the_rotation_keys(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    dev_key = DEV_SECRETS["CREDENTIALS_ENCRYPTION_KEY"].partition(":")[2]
    production(
        monkeypatch,
        CREDENTIALS_ENCRYPTION_KEY=f"{STRONG['CREDENTIALS_ENCRYPTION_KEY']},old:{dev_key}",
    )
    with pytest.raises(ConfigError) as refused:
        load_settings()
    assert refused.value.variable == "CREDENTIALS_ENCRYPTION_KEY"
    assert "development" in str(refused.value)
