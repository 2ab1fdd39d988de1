"""`xenectl completion bash|zsh|fish`: the script that makes the shell complete xenectl."""

from __future__ import annotations

import click

SHELLS = ("bash", "zsh", "fish")
COMPLETE_VAR = "_XENECTL_COMPLETE"


@click.command()
@click.argument("shell", type=click.Choice(SHELLS))
@click.pass_context
def completion(ctx: click.Context, shell: str) -> None:
    """Print the shell completion script for bash, zsh or fish.

    Commands, flags, kinds and output formats complete at once; object names (workflows,
    pipelines, runs, agents, triggers) are asked of the server, with a one-second limit and
    no output when it cannot be reached.

    \b
    bash:  source <(xenectl completion bash)      # e.g. in ~/.bashrc (bash 4.4 or newer)
    zsh:   xenectl completion zsh > "${fpath[1]}/_xenectl"   # then start a new shell
    fish:  xenectl completion fish > ~/.config/fish/completions/xenectl.fish
    """
    from click.shell_completion import get_completion_class

    completer = get_completion_class(shell)
    assert completer is not None  # every name in SHELLS is one of click's
    root = ctx.find_root().command
    click.echo(completer(root, {}, "xenectl", COMPLETE_VAR).source(), nl=False)
