"""`xene-agent`: flags → settings → AgentDaemon, with SIGTERM/SIGINT for a clean goodbye."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from pathlib import Path

import click

from xene import __version__
from xene.agent.daemon import AgentDaemon
from xene.agent.settings import CONFIG_VARIABLE, DEFAULT_CONFIG_FILE, AgentSettings
from xene.api.errors import Invalid
from xene.api.executors import HOST_KINDS
from xene.settings import config_file_option, load_settings

log = logging.getLogger("xene.agent")


def configure_logging(level: str) -> None:
    """Plain, timestamped log lines on stderr."""
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        stream=sys.stderr,
    )


async def serve(settings: AgentSettings) -> None:
    """Run the agent until SIGTERM or SIGINT."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await AgentDaemon(settings).run(stop)


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_file",
    type=click.Path(path_type=Path),
    envvar=CONFIG_VARIABLE,
    help=f"YAML file of settings, keys as the flags with _ or - [{DEFAULT_CONFIG_FILE}].",
)
@click.option(
    "--server",
    help="HOST:PORT of the apiserver's gRPC port [127.0.0.1:9090]; "
    "comma-separate several replicas to fail over between them.",
)
@click.option("--name", help="Name of this agent [the host name].")
@click.option("--labels", help="Labels matched by agentSelector: k=v,k2=v2.")
@click.option("--capacity", type=int, help="How many pipelines this agent accepts [10].")
@click.option("--token", help="Token the apiserver expects from agents (--agent-token).")
@click.option("--parallelism", type=int, help="Tasks run at once inside runs [CPU count].")
@click.option("--executors", help="Comma-separated executors offered [docker,process].")
@click.option(
    "--executor",
    type=click.Choice(HOST_KINDS),
    help="What runs tasks of pipelines that ask for docker: docker (DOCKER_HOST or the "
    "default socket) or process (host processes, for hosts without Docker) [docker].",
)
@click.option(
    "--tls-ca",
    type=click.Path(path_type=Path),
    help="CA certificate to verify the apiserver's TLS certificate with.",
)
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path),
    help="State directory: unsent run reports, workspaces [~/.xene/agent-NAME].",
)
@click.option(
    "--warm-pool-size",
    type=int,
    help="Warm Docker workspaces kept ready, each with a started container per pooled image; "
    "0 turns the pool off [1].",
)
@click.option(
    "--warm-pool-images",
    help="Comma-separated images the warm pool keeps started containers of, besides the two "
    "images tasks used most recently (e.g. busybox:latest) [none].",
)
@click.option("--log-level", help="debug, info, warning, error [info].")
@click.version_option(__version__, prog_name="xene-agent")
def main(config_file: Path | None, **flags: object) -> None:
    """Run a Xene agent: connect to the apiserver and run the pipelines it assigns.

    Every flag can also come from an XENE_AGENT_<FLAG> variable (XENE_AGENT_TOKEN, ...).
    """
    config = config_file_option(config_file, DEFAULT_CONFIG_FILE, CONFIG_VARIABLE)
    try:
        resolved = load_settings(AgentSettings, flags, config)
    except Invalid as exc:
        for problem in exc.errors:
            click.echo(f"error: {problem}", err=True)
        sys.exit(1)
    settings = resolved.settings
    configure_logging(settings.log_level)
    log.info("xene-agent %s starting; %s", __version__, resolved.describe())
    asyncio.run(serve(settings))


if __name__ == "__main__":
    main()
