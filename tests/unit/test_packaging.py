"""Docker cannot run on CI, so the Dockerfile and docker-compose.yml are checked as text:
both must describe processes that the `gr8d` command really has."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any

import click
import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from gr8d.cli import cli

ROOT = Path(__file__).resolve().parents[2]
GR8D_SERVICES = ("anvil", "migrate", "daemon")


def _instructions() -> list[tuple[str, str]]:
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines()]
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1])
        for line in lines
        if line and not line.startswith("#")
    ]


def _compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return document


def _parses_as_gr8d_command(arguments: list[str]) -> None:
    """Parse (without running) `gr8d ARGS` the way click would; UsageError if it is not real."""
    command: click.Command = cli
    remaining = list(arguments)
    context = click.Context(cli, info_name="gr8d")
    while isinstance(command, click.Group):
        if not remaining:
            raise click.UsageError("missing command", context)
        name = remaining.pop(0)
        found = command.get_command(context, name)
        if found is None:
            raise click.UsageError(f"no such command: {name}", context)
        command = found
        context = click.Context(command, info_name=name, parent=context)
    command.make_context(command.name or "", remaining, parent=context.parent)


def test_the_image_is_multi_stage_slim_and_runs_as_an_unprivileged_user() -> None:
    instructions = _instructions()
    stages = [value for keyword, value in instructions if keyword == "FROM"]
    assert len(stages) >= 2
    assert stages[-1].startswith("python:3.11-slim")
    users = [value for keyword, value in instructions if keyword == "USER"]
    assert users and users[-1] not in {"root", "0"}


def test_the_images_entrypoint_is_gr8d_and_its_default_command_is_real() -> None:
    instructions = dict(_instructions())
    assert json.loads(instructions["ENTRYPOINT"]) == ["gr8d"]
    _parses_as_gr8d_command(json.loads(instructions["CMD"]))


def test_the_image_checks_health_on_the_health_route() -> None:
    healthcheck = dict(_instructions())["HEALTHCHECK"]
    assert re.search(r"/health\b", healthcheck)


def test_the_image_carries_the_contract_artifacts_and_anvil() -> None:
    copies = " ".join(value for keyword, value in _instructions() if keyword == "COPY")
    assert "contracts/artifacts" in copies
    assert "@foundry-rs" in copies


def test_compose_runs_postgres_redis_anvil_a_migration_and_the_daemon() -> None:
    services = _compose()["services"]
    assert set(services) >= {"postgres", "redis", *GR8D_SERVICES}
    assert services["postgres"]["image"].startswith("postgres:15")
    assert services["redis"]["image"].startswith("redis:7")


@pytest.mark.parametrize("service", GR8D_SERVICES)
def test_compose_services_run_real_gr8d_commands(service: str) -> None:
    definition = _compose()["services"][service]
    assert definition["build"] == "."
    _parses_as_gr8d_command(definition["command"])


def test_the_daemon_starts_after_the_migration_and_the_chain() -> None:
    depends = _compose()["services"]["daemon"]["depends_on"]
    assert depends["migrate"]["condition"] == "service_completed_successfully"
    assert depends["anvil"]["condition"] == "service_healthy"


def test_a_made_up_command_is_refused_by_the_parser() -> None:
    with pytest.raises(click.UsageError):
        _parses_as_gr8d_command(["no-such-command"])


def test_the_database_starts_afresh_with_the_dev_chain() -> None:
    # A database kept from an earlier dev chain holds blocks the new chain replaced: the
    # indexer would stop on a reorg deeper than MAX_REORG_DEPTH.
    compose = _compose()
    postgres = compose["services"]["postgres"]
    assert "/var/lib/postgresql/data" in postgres.get("tmpfs", [])
    assert not postgres.get("volumes")


@pytest.mark.parametrize("service", GR8D_SERVICES)
def test_compose_runs_the_image_on_the_platform_its_anvil_is_built_for(service: str) -> None:
    package = json.loads((ROOT / "contracts" / "package.json").read_text())
    anvils = [name for name in package["optionalDependencies"] if "/anvil-" in name]
    assert anvils == ["@foundry-rs/anvil-linux-amd64"]
    assert _compose()["services"][service]["platform"] == "linux/amd64"
    assert "anvil-linux-amd64" in (ROOT / "Dockerfile").read_text()


# The oldest release of each dependency with what gr8d uses of it (each found by running the
# unit tests, and the chain's integration tests for web3, on that release and the one before).
OLDEST_WORKING = {
    "click": "8.4",  # click.ParamType[...] (UntilBlock): not subscriptable before 8.4
    "prometheus-client": "0.24",  # prometheus_client.aiohttp (the /metrics handler)
    "pydantic-settings": "2.7",  # NoDecode (the comma-separated lists)
    "structlog": "25.5",  # BoundLogger.is_enabled_for (25.1), capture_logs(processors=)
    "web3": "7.7",  # AsyncHTTPProvider.disconnect
}


def _requirements() -> dict[str, Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    listed = [*project["dependencies"], *project["optional-dependencies"]["embedded"]]
    return {canonicalize_name(Requirement(line).name): Requirement(line) for line in listed}


def _locked() -> dict[str, Version]:
    pins = re.findall(r"^([A-Za-z0-9_.\-]+)==(\S+)", (ROOT / "requirements.lock").read_text(), re.M)
    return {canonicalize_name(name): Version(version) for name, version in pins}


@pytest.mark.parametrize(("name", "oldest"), sorted(OLDEST_WORKING.items()))
def test_no_lower_bound_admits_a_release_without_what_gr8d_uses(name: str, oldest: str) -> None:
    requirement = _requirements()[name]
    lowest = min(
        (Version(spec.version) for spec in requirement.specifier if spec.operator == ">="),
        default=None,
    )
    assert lowest is not None and lowest >= Version(oldest), str(requirement)


def test_every_dependency_is_bounded_below_and_locked_within_its_bounds() -> None:
    locked = _locked()
    for name, requirement in _requirements().items():
        assert any(spec.operator == ">=" for spec in requirement.specifier), str(requirement)
        assert locked[name] in requirement.specifier, (str(requirement), locked[name])


def test_the_build_context_leaves_out_secrets_and_the_host_node_modules() -> None:
    # The image installs anvil with npm ci itself; a developer's .env must never reach a build.
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert ".env" in ignored
    assert "**/node_modules" in ignored
