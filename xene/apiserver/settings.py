"""Every setting of xene-apiserver in one typed object."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field, SecretStr, field_validator

from xene.apiserver.services.notifiers import NotifierSettings
from xene.settings import EnvironmentScheme, XeneSettings

CONFIG_VARIABLE = "XENE_APISERVER_CONFIG"
DEFAULT_CONFIG_FILE = Path("~/.xene/apiserver.yaml")

ENVIRONMENT = EnvironmentScheme(
    program="xene-apiserver",
    prefix="XENE_APISERVER_",
    # The names of before the prefix (XENE_HTTP_ADDRESS, XENE_AGENT_TOKEN) are documented and
    # still read; a near miss of one (XENE_HTTP_ADRESS) is refused like an unknown setting.
    legacy_prefix="XENE_",
    not_settings=frozenset({CONFIG_VARIABLE}),
    others=(
        "XENE_AGENT_",  # xene-agent's settings (the apiserver's XENE_AGENT_TOKEN matches first)
        "XENE_SERVER",  # xenectl's
        "XENE_TOKEN",
        "XENE_REPORTS_DIR",
        "XENE_QUICKSTART_",  # deploy/quickstart.sh's
        "XENE_WEBHOOK_SECRET_",  # webhook triggers' secrets, read by name at run time
    ),
    retired={
        "XENE_CONFIG": (
            "no longer read: it named both xenectl's and the apiserver's config file; use "
            f"{CONFIG_VARIABLE} (or --config) for xene-apiserver and XENECTL_CONFIG for xenectl"
        ),
    },
)


def split_address(address: str, default_port: int) -> tuple[str, int]:
    """`host:port` (or `[::1]:port`, or `host`) as a pair."""
    if address.startswith("["):
        host, _, rest = address[1:].partition("]")
        return host, int(rest.lstrip(":") or default_port)
    host, sep, port = address.rpartition(":")
    if not sep:
        return address, default_port
    return host, int(port)


class ApiServerSettings(XeneSettings):
    """Flags, `XENE_APISERVER_*` variables and the config file resolve to this object."""

    environment: ClassVar[EnvironmentScheme] = ENVIRONMENT
    flag_names: ClassVar[dict[str, str]] = {"notifiers": "--notifier-webhook"}

    http_address: str = "127.0.0.1:8080"
    grpc_address: str = "127.0.0.1:9090"
    etcd_endpoints: list[str] = Field(default_factory=list)
    etcd_prefix: str = "/xene"
    data_dir: Path = Path("~/.xene").expanduser()
    embedded_etcd_client_port: int = 2379
    embedded_etcd_peer_port: int = 2380
    api_token: SecretStr = SecretStr("")
    agent_token: SecretStr = SecretStr("")
    agent_tokens_file: Path | None = None
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    agent_lease_ttl_seconds: int = Field(default=10, ge=2, le=300)
    leader_lease_ttl_seconds: int = Field(default=5, ge=2, le=300)
    max_body_bytes: int = Field(default=1 << 20, ge=1024)
    run_history_limit: int = Field(default=50, ge=1, le=100_000)
    log_dir: Path | None = None
    log_max_bytes_per_step: int = Field(default=1 << 20, ge=1024)
    notifiers: list[NotifierSettings] = Field(default_factory=list)
    identity: str = Field(default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}")
    log_level: str = "info"

    @field_validator("etcd_endpoints", "notifiers", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @field_validator("data_dir", "log_dir")
    @classmethod
    def _expand(cls, value: Path | None) -> Path | None:
        return value.expanduser() if value is not None else None

    @field_validator("http_address", "grpc_address")
    @classmethod
    def _has_port(cls, value: str) -> str:
        host, port = split_address(value, 0)
        if not host or not 0 < port < 65536:
            raise ValueError(f"'{value}' is not HOST:PORT")
        return value

    @property
    def logs_dir(self) -> Path:
        """Where run logs are kept: `log_dir`, else `{data_dir}/logs`."""
        return self.log_dir if self.log_dir is not None else self.data_dir / "logs"

    @property
    def embedded(self) -> bool:
        """No etcd endpoints given: run a single-member etcd under the data dir."""
        return not self.etcd_endpoints
