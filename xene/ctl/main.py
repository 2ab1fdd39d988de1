"""The `xenectl` entry point: global flags, the commands, and failures turned into exit codes.

Commands are imported only when one runs: `xenectl --help` (and shell completion of command
names) must start in well under 150 ms, and importing every command pulls in httpx, pydantic,
rich and the validation code. The table below holds each command's one-line help so the help
screen needs none of them; a unit test keeps it equal to the commands' own docstrings.
"""

from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass
from typing import Any

import click

from xene import __version__
from xene.api.errors import XeneError
from xene.ctl.connection import ServerConnection
from xene.ctl.errors import ExitCode, error_lines, exit_code_for


@dataclass(frozen=True)
class CommandEntry:
    """Where a command lives and the line `xenectl --help` shows for it."""

    module: str
    attribute: str
    summary: str


# Sections and order as on the help screen, kubectl-style.
SECTIONS: dict[str, dict[str, CommandEntry]] = {
    "Basic Commands": {
        "apply": CommandEntry(
            "xene.ctl.commands.apply",
            "apply",
            "Create or update the objects of FILE (created, configured or unchanged).",
        ),
        "get": CommandEntry(
            "xene.ctl.commands.get", "get", "List objects of KINDs, or show the ones named."
        ),
        "describe": CommandEntry(
            "xene.ctl.commands.describe", "describe", "Show one object in detail."
        ),
        "delete": CommandEntry(
            "xene.ctl.commands.delete",
            "delete",
            "Delete objects by KIND and NAME, by label selector, or those a file describes.",
        ),
        "validate": CommandEntry(
            "xene.ctl.commands.validate",
            "validate",
            "Check workflow files the way the server would, without contacting it.",
        ),
    },
    "Run Commands": {
        "run": CommandEntry(
            "xene.ctl.commands.run",
            "run",
            "Start a run of WORKFLOW/PIPELINE; with --wait follow it to its end.",
        ),
        "rerun": CommandEntry(
            "xene.ctl.commands.rerun",
            "rerun",
            "Start a new run with the parameters and trigger payload of RUN.",
        ),
        "runs": CommandEntry("xene.ctl.commands.runs", "runs", "List runs, newest first."),
        "logs": CommandEntry(
            "xene.ctl.commands.logs",
            "logs",
            "Print the output of a run of PIPELINE (WORKFLOW/PIPELINE), the latest unless --run N.",
        ),
        "cancel": CommandEntry(
            "xene.ctl.commands.cancel",
            "cancel",
            "Cancel RUN (hello.build.3, hello/build/3, or hello/build for its latest run).",
        ),
        "report": CommandEntry(
            "xene.ctl.commands.report",
            "report",
            "List run reports; one run (a single match) is shown with its tasks and steps.",
        ),
    },
    "Trigger and Agent Commands": {
        "suspend": CommandEntry(
            "xene.ctl.commands.suspend",
            "suspend",
            "Stop TRIGGER from starting runs until it is resumed.",
        ),
        "resume": CommandEntry(
            "xene.ctl.commands.suspend", "resume", "Let a suspended TRIGGER start runs again."
        ),
        "cordon": CommandEntry(
            "xene.ctl.commands.cordon",
            "cordon",
            "Mark AGENT unschedulable: no new pipelines are placed on it.",
        ),
        "uncordon": CommandEntry(
            "xene.ctl.commands.cordon",
            "uncordon",
            "Mark AGENT schedulable again.",
        ),
    },
    "Settings Commands": {
        "config": CommandEntry(
            "xene.ctl.commands.config",
            "config",
            "Show or change where xenectl finds the API server "
            "($XENECTL_CONFIG or ~/.xene/config).",
        ),
        "completion": CommandEntry(
            "xene.ctl.commands.completion",
            "completion",
            "Print the shell completion script for bash, zsh or fish.",
        ),
        "version": CommandEntry(
            "xene.ctl.commands.version", "version", "Print the client and server versions."
        ),
    },
}
COMMANDS: dict[str, CommandEntry] = {
    name: entry for section in SECTIONS.values() for name, entry in section.items()
}

EXIT_CODES_HELP = (
    "Exit codes: 0 success; 1 bad input or a refusal by the server; 2 the server cannot be "
    "reached; 3 the run under `run --wait` did not succeed; 130 interrupted."
)


def load_command(name: str) -> click.Command:
    """Import the command `name` (a key of COMMANDS)."""
    entry = COMMANDS[name]
    command = getattr(importlib.import_module(entry.module), entry.attribute)
    assert isinstance(command, click.Command)
    return command


class XenectlGroup(click.Group):
    """A click group that imports a command only when it runs, prints one `error:` line (never
    a traceback) for a failure and exits with ExitCode."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        return load_command(cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        for section, entries in SECTIONS.items():
            with formatter.section(section):
                formatter.write_dl([(name, entry.summary) for name, entry in entries.items()])

    def main(
        self,
        args: Any = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        try:
            result = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
            code = result if isinstance(result, int) else ExitCode.OK
        except click.exceptions.NoArgsIsHelpError as exc:
            click.echo(exc.ctx.get_help() if exc.ctx else str(exc))
            code = ExitCode.OK
        except click.ClickException as exc:
            exc.show()
            # click's usage errors exit 2; here 2 means "server unreachable", so they exit 1.
            code = ExitCode.USER_ERROR
        except click.Abort:
            code = ExitCode.INTERRUPTED
        except XeneError as exc:
            for line in error_lines(exc):
                click.echo(line, err=True)
            code = exit_code_for(exc)
        if standalone_mode:
            sys.exit(int(code))
        return int(code)


@click.group(
    cls=XenectlGroup,
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog=EXIT_CODES_HELP,
)
@click.option(
    "--server",
    metavar="URL",
    help="API server address (default: $XENE_SERVER, ~/.xene/config, http://127.0.0.1:8080).",
)
@click.option("--token", metavar="TOKEN", help="API bearer token (default: $XENE_TOKEN, config).")
@click.version_option(__version__, prog_name="xenectl", message="%(prog)s %(version)s")
@click.pass_context
def cli(ctx: click.Context, server: str | None, token: str | None) -> None:
    """xenectl controls a Xene API server: apply workflows, inspect pipelines, triggers, agents
    and runs."""
    connection = ctx.ensure_object(ServerConnection)
    connection.server_flag = server
    connection.token_flag = token
    ctx.call_on_close(connection.close)


def main() -> None:
    """Console-script entry point."""
    cli.main(prog_name="xenectl")
