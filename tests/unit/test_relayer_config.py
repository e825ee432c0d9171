from __future__ import annotations

import json
from pathlib import Path

import pytest

from gr8d.config import ConfigError, load_settings
from settlement.onchain import build_relayer

KEY = "0x" + "11" * 32


async def test_no_relayer_key_means_no_relayer() -> None:
    assert await build_relayer(load_settings(_env_file=None, relayer_private_key=None)) is None


@pytest.mark.parametrize(
    ("overrides", "variable"),
    [
        ({"rpc_urls": [], "deployments_file": "deployments.json"}, "RPC_URLS"),
        ({"rpc_urls": ["http://127.0.0.1:1"], "deployments_file": None}, "DEPLOYMENTS_FILE"),
        (
            {"rpc_urls": ["http://127.0.0.1:1"], "deployments_file": "/nonexistent.json"},
            "DEPLOYMENTS_FILE",
        ),
    ],
)
async def test_a_relayer_key_without_its_chain_settings_is_a_configuration_error(
    overrides: dict[str, object], variable: str
) -> None:
    settings = load_settings(_env_file=None, relayer_private_key=KEY, **overrides)
    with pytest.raises(ConfigError) as refused:
        await build_relayer(settings)
    assert refused.value.variable == variable


async def test_a_deployment_without_decision_history_keeps_roots_off_chain(
    tmp_path: Path,
) -> None:
    deployments = tmp_path / "deployments.json"
    deployments.write_text(
        json.dumps({"chain_id": 10143, "contracts": {"G8DToken": "0x" + "1" * 40}})
    )
    settings = load_settings(
        _env_file=None,
        relayer_private_key=KEY,
        rpc_urls=["http://127.0.0.1:1"],
        deployments_file=str(deployments),
    )
    assert await build_relayer(settings) is None
