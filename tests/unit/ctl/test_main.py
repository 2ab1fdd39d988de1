"""The entry point: the help screen without importing commands, `-h`, and exit codes."""

from __future__ import annotations

import inspect
import subprocess
import sys

import click
import pytest

from xene.ctl.main import COMMANDS, EXIT_CODES_HELP, load_command


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_the_help_line_of_each_command_is_its_own_first_docstring_line(name: str) -> None:
    command = load_command(name)
    assert command.name == name
    first_paragraph = inspect.cleandoc(command.help or "").split("\n\n")[0]
    assert COMMANDS[name].summary == " ".join(first_paragraph.split())


def test_help_lists_every_command_by_section_and_the_exit_codes(xenectl) -> None:
    for flag in ("-h", "--help"):
        result = xenectl(flag)
        assert result.exit_code == 0, result.output
        for section in ("Basic Commands:", "Run Commands:", "Trigger and Agent Commands:"):
            assert section in result.stdout
        for name in COMMANDS:
            assert f"  {name} " in result.stdout
        assert " ".join(EXIT_CODES_HELP.split()[:6]) in " ".join(result.stdout.split())


def test_subcommands_take_dash_h(xenectl) -> None:
    result = xenectl("get", "-h")
    assert result.exit_code == 0
    assert "--sort-by" in result.stdout and "--show-labels" in result.stdout


def test_help_imports_no_command_and_none_of_the_heavy_libraries() -> None:
    # A fresh interpreter: what `xenectl --help` loads is what a user waits for.
    code = (
        "import sys\n"
        "from xene.ctl.main import cli\n"
        "try:\n"
        "    cli.main(['--help'], prog_name='xenectl')\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = ('httpx', 'pydantic', 'rich', 'yaml', 'xene.ctl.commands.get', 'xene.api.meta')\n"
        "print('loaded:', ','.join(name for name in heavy if name in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.splitlines()[-1] == "loaded: "


def test_unknown_command_is_a_usage_error(xenectl) -> None:
    result = xenectl("frobnicate")
    assert result.exit_code == 1
    assert "No such command 'frobnicate'" in result.stderr


def test_commands_are_click_commands() -> None:
    for name in COMMANDS:
        assert isinstance(load_command(name), click.Command)
