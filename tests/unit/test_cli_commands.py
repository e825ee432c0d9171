"""The gr8d command group: the parts' commands load by name, and only when asked for."""

from __future__ import annotations

import subprocess
import sys

import click

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
