"""`xene-apiserver`: flags → settings → ApiServer, with SIGTERM/SIGINT for a clean stop."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from pathlib import Path

import click

from xene import __version__
from xene.api.errors import Invalid, XeneError
from xene.apiserver.server import ApiServer
from xene.apiserver.settings import CONFIG_VARIABLE, DEFAULT_CONFIG_FILE, ApiServerSettings
from xene.settings import config_file_option, load_settings

log = logging.getLogger("xene.apiserver")


def configure_logging(level: str) -> None:
    """Plain, timestamped log lines on stderr."""
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        stream=sys.stderr,
    )


async def serve(settings: ApiServerSettings) -> None:
    """Run the server until SIGTERM or SIGINT."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await ApiServer(settings).run(stop)


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_file",
    type=click.Path(path_type=Path),
    envvar=CONFIG_VARIABLE,
    help=f"YAML file of settings, keys as the flags with _ or - [{DEFAULT_CONFIG_FILE}].",
)
@click.option("--http-address", help="HOST:PORT of the REST API [127.0.0.1:8080].")
@click.option("--grpc-address", help="HOST:PORT of the agent gRPC service [127.0.0.1:9090].")
@click.option("--etcd-endpoints", help="Comma-separated etcd endpoints; none = embedded etcd.")
@click.option("--etcd-prefix", help="Key prefix in etcd [/xene].")
@click.option("--data-dir", type=click.Path(path_type=Path), help="State directory [~/.xene].")
@click.option("--embedded-etcd-client-port", type=int, help="Embedded etcd client port [2379].")
@click.option("--embedded-etcd-peer-port", type=int, help="Embedded etcd peer port [2380].")
@click.option("--api-token", help="Require this bearer token on the REST API.")
@click.option("--agent-token", help="Require this token from agents.")
@click.option(
    "--agent-tokens-file",
    type=click.Path(path_type=Path),
    help="YAML mapping of agent name to its own token.",
)
@click.option("--tls-cert-file", type=click.Path(path_type=Path), help="TLS cert for gRPC.")
@click.option("--tls-key-file", type=click.Path(path_type=Path), help="TLS key for gRPC.")
@click.option("--agent-lease-ttl-seconds", type=int, help="Agent liveness lease TTL [10].")
@click.option("--leader-lease-ttl-seconds", type=int, help="Controller election TTL [5].")
@click.option(
    "--notifier-webhook",
    "notifier_webhooks",
    multiple=True,
    metavar="URL",
    help="POST run events as JSON to URL (repeatable; see `notifiers` in the config file).",
)
@click.option("--identity", help="Name of this replica [hostname-pid].")
@click.option("--log-level", help="debug, info, warning, error [info].")
@click.version_option(__version__, prog_name="xene-apiserver")
def main(
    config_file: Path | None,
    notifier_webhooks: tuple[str, ...],
    **flags: object,
) -> None:
    """Run the Xene API server (REST API, agent service and controllers).

    Every flag can also come from an XENE_APISERVER_<FLAG> variable (XENE_APISERVER_HTTP_ADDRESS,
    ...); the older XENE_<FLAG> names are read after those.
    """
    if notifier_webhooks:
        flags["notifiers"] = list(notifier_webhooks)
    config = config_file_option(config_file, DEFAULT_CONFIG_FILE, CONFIG_VARIABLE)
    try:
        resolved = load_settings(ApiServerSettings, flags, config)
    except Invalid as exc:
        for problem in exc.errors:
            click.echo(f"error: {problem}", err=True)
        sys.exit(1)
    settings = resolved.settings
    configure_logging(settings.log_level)
    log.info("xene-apiserver %s starting; %s", __version__, resolved.describe())
    try:
        asyncio.run(serve(settings))
    except* XeneError as group:
        for failure in group.exceptions:
            log.error("%s", failure)
        sys.exit(1)


if __name__ == "__main__":
    main()
