"""The `xenectl` entry point: global flags, the commands, and failures turned into exit codes."""

from __future__ import annotations

import sys
from typing import Any

import click

from xene.api.errors import XeneError
from xene.ctl.commands.apply import apply
from xene.ctl.commands.cancel import cancel
from xene.ctl.commands.config import config
from xene.ctl.commands.delete import delete
from xene.ctl.commands.describe import describe
from xene.ctl.commands.get import get
from xene.ctl.commands.logs import logs
from xene.ctl.commands.report import report
from xene.ctl.commands.run import run
from xene.ctl.commands.runs import runs
from xene.ctl.commands.validate import validate
from xene.ctl.commands.version import version
from xene.ctl.connection import ServerConnection
from xene.ctl.errors import ExitCode, error_lines, exit_code_for


class XenectlGroup(click.Group):
    """A click group whose failures print one `error:` line (never a traceback) and exit with
    ExitCode: 1 for anything the user can fix, 2 when the server cannot be reached."""

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


@click.group(cls=XenectlGroup, no_args_is_help=True)
@click.option(
    "--server",
    metavar="URL",
    help="API server address (default: $XENE_SERVER, ~/.xene/config, http://127.0.0.1:8080).",
)
@click.option("--token", metavar="TOKEN", help="API bearer token (default: $XENE_TOKEN, config).")
@click.version_option(package_name="xene", prog_name="xenectl", message="%(prog)s %(version)s")
@click.pass_context
def cli(ctx: click.Context, server: str | None, token: str | None) -> None:
    """xenectl controls a Xene API server: apply workflows, inspect pipelines, triggers, agents
    and runs."""
    connection = ctx.ensure_object(ServerConnection)
    connection.server_flag = server
    connection.token_flag = token
    ctx.call_on_close(connection.close)


for command in (apply, get, describe, delete, validate, version, config):
    cli.add_command(command)
for command in (run, runs, logs, cancel, report):
    cli.add_command(command)


def main() -> None:
    """Console-script entry point."""
    cli.main(prog_name="xenectl")
