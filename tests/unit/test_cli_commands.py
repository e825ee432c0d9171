"""The gr8d command group: the parts' commands load by name, and only when asked for."""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys

import click
from click.testing import CliRunner

from gr8d.cli import PART_COMMANDS, cli


def test_every_part_command_loads_under_its_own_name() -> None:
    context = click.Context(cli, info_name="gr8d")

    for name in PART_COMMANDS:
        command = cli.get_command(context, name)
        assert command is not None and command.name == name


def test_help_lists_the_part_commands_beside_the_groups_own() -> None:
    context = click.Context(cli, info_name="gr8d")

    listed = cli.list_commands(context)

    assert set(PART_COMMANDS) <= set(listed)
    assert {"migrate", "run", "api", "scheduler"} <= set(listed)


def test_the_indexer_command_starts_without_web3_or_the_other_parts() -> None:
    probe = (
        "import sys, click; from gr8d.cli import cli; "
        "cli.get_command(click.Context(cli), 'indexer'); "
        "print(sorted(m for m in ('web3', 'eth_account', 'simulation.cli', 'settlement.cli') "
        "if m in sys.modules))"
    )

    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )

    assert loaded.stdout.strip() == "[]"


def _command_paths(group: click.Group, context: click.Context) -> list[list[str]]:
    paths: list[list[str]] = [[]]
    for name in group.list_commands(context):
        command = group.get_command(context, name)
        if isinstance(command, click.Group):
            inner = click.Context(command, parent=context, info_name=name)
            paths += [[name, *path] for path in _command_paths(command, inner)]
        else:
            paths.append([name])
    return paths


def test_help_works_at_every_level_even_when_the_configuration_is_bad() -> None:
    runner = CliRunner(env={"DATABASE_SSL": "bogus", "APP_ENV": "test"})
    paths = _command_paths(cli, click.Context(cli, info_name="gr8d"))
    assert ["settle", "daily"] in paths and ["admin", "promote"] in paths

    for path in paths:
        for flag in ("--help", "-h"):
            shown = runner.invoke(cli, [*path, flag], prog_name="gr8d")
            assert shown.exit_code == 0, (path, shown.output)
            assert shown.output.startswith(f"Usage: gr8d {' '.join(path)}".rstrip())


def test_a_command_with_a_bad_configuration_still_exits_2_naming_the_variable() -> None:
    runner = CliRunner(env={"DATABASE_SSL": "bogus", "APP_ENV": "test"})

    refused = runner.invoke(cli, ["settle", "daily", "--day", "2026-01-01"], prog_name="gr8d")

    assert refused.exit_code == 2
    assert refused.output.startswith("gr8d: configuration error: DATABASE_SSL:")


def test_a_failure_in_production_is_logged_as_json_lines_and_exits_1() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    environment = {
        "PATH": os.environ.get("PATH", ""),
        "APP_ENV": "production",
        "JWT_SECRET_KEY": "j" * 40,
        "INTERNAL_API_TOKEN": "t" * 40,
        "CREDENTIALS_ENCRYPTION_KEY": "k1:" + base64.b64encode(b"k" * 32).decode(),
        "DATABASE_URL": f"postgresql+asyncpg://gr8d@127.0.0.1:{closed_port}/gr8d",
        "REDIS_URL": f"redis://127.0.0.1:{closed_port}/0",
    }

    failed = subprocess.run(
        [sys.executable, "-m", "gr8d", "migrate"],
        capture_output=True,
        text=True,
        timeout=60,
        env=environment,
    )

    assert failed.returncode == 1
    lines = [json.loads(line) for line in failed.stderr.splitlines()]
    assert lines[-1]["level"] == "error"
    assert "ConnectionRefusedError" in lines[-1]["exception"]


def test_a_port_out_of_range_is_a_bad_argument() -> None:
    refused = CliRunner(env={"APP_ENV": "test"}).invoke(
        cli, ["api", "--port", "99999"], prog_name="gr8d"
    )

    assert refused.exit_code == 2
    assert "Invalid value for '--port'" in refused.output
