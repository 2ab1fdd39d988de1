"""Every setting of xene-agent in one typed object."""

from __future__ import annotations

import os
import re
import socket
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field, SecretStr, field_validator, model_validator

from xene.api.executors import DEFAULT_EXECUTOR, HOST_KINDS, HostKind
from xene.api.labels import label_problem, parse_labels
from xene.api.meta import DNS1123_SUBDOMAIN, MAX_SUBDOMAIN_LENGTH
from xene.settings import EnvironmentScheme, XeneSettings

CONFIG_VARIABLE = "XENE_AGENT_CONFIG"
DEFAULT_CONFIG_FILE = Path("~/.xene/agent.yaml")

# The agent reads `XENE_AGENT_*` variables (XENE_AGENT_SERVER, XENE_AGENT_TOKEN, ...), so that
# xenectl's XENE_SERVER/XENE_TOKEN (the REST API) on the same host never leak into it.
ENVIRONMENT = EnvironmentScheme(
    program="xene-agent",
    prefix="XENE_AGENT_",
    not_settings=frozenset(
        {
            CONFIG_VARIABLE,
            # xene-apiserver's older names for its --agent-tokens-file and
            # --agent-lease-ttl-seconds (its XENE_AGENT_TOKEN is the agents' token: the same).
            "XENE_AGENT_TOKENS_FILE",
            "XENE_AGENT_LEASE_TTL_SECONDS",
        }
    ),
)


def name_problem(name: str) -> str | None:
    """Why `name` cannot name an agent, or None."""
    if not name:
        return "must not be empty"
    if len(name) > MAX_SUBDOMAIN_LENGTH or not DNS1123_SUBDOMAIN.match(name):
        return (
            f"'{name}' is not a valid agent name: use lower-case letters, digits, '-' and '.', "
            "starting and ending with a letter or digit"
        )
    return None


def _default_name() -> str:
    host = socket.gethostname().lower()
    cleaned = re.sub(r"[^a-z0-9.-]+", "-", host).strip("-.")
    return cleaned or "agent"


class AgentSettings(XeneSettings):
    """Flags, `XENE_AGENT_*` variables and the config file resolve to this object."""

    environment: ClassVar[EnvironmentScheme] = ENVIRONMENT

    server: list[str] = Field(default_factory=lambda: ["127.0.0.1:9090"], min_length=1)
    name: str = Field(default_factory=_default_name)
    labels: dict[str, str] = Field(default_factory=dict)
    capacity: int = Field(default=10, ge=1, le=100_000)
    token: SecretStr = SecretStr("")
    parallelism: int = Field(default_factory=lambda: os.cpu_count() or 1, ge=1, le=1024)
    executors: list[str] = Field(default_factory=lambda: [str(kind) for kind in HOST_KINDS])
    tls_ca: Path | None = None
    # Default: ~/.xene/agent-{name}, so several agents on one host keep separate state.
    data_dir: Path = Path("~/.xene/agent").expanduser()
    # What runs pipelines that ask for docker: `process` serves them on hosts without Docker.
    executor: HostKind = DEFAULT_EXECUTOR
    log_level: str = "info"
    # Warm workspaces the Docker executor keeps ready (0: off); each holds one started idle
    # container per pooled image. Images: `warm_pool_images` plus the two used most recently.
    warm_pool_size: int = Field(default=1, ge=0, le=64)
    # Images kept warm from the start (e.g. busybox:latest); missing ones are not pulled for it.
    warm_pool_images: list[str] = Field(default_factory=list)
    # Testing only, no flag (XENE_AGENT_CRON_SCHEDULE_OVERRIDE): every cron trigger of this
    # agent fires on this schedule instead, e.g. "* * * * * *" (a sixth field: seconds).
    cron_schedule_override: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _data_dir_per_name(cls, data: Any) -> Any:
        if isinstance(data, dict) and not data.get("data_dir"):
            name = data.get("name") or _default_name()
            return {**data, "data_dir": Path(f"~/.xene/agent-{name}")}
        return data

    @field_validator("server", mode="before")
    @classmethod
    def _server_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @field_validator("server")
    @classmethod
    def _servers_are_host_port(cls, value: list[str]) -> list[str]:
        for address in value:
            host, sep, port = address.rpartition(":")
            if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ValueError(f"'{address}' is not HOST:PORT of an apiserver's gRPC port")
        return value

    @field_validator("warm_pool_images", "executors", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @field_validator("warm_pool_images")
    @classmethod
    def _images_are_names(cls, value: list[str]) -> list[str]:
        for image in value:
            if any(char.isspace() for char in image):
                raise ValueError(f"'{image}' is not an image name (no spaces allowed)")
        return list(dict.fromkeys(value))

    @field_validator("name")
    @classmethod
    def _name_is_dns(cls, value: str) -> str:
        problem = name_problem(value)
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("labels", mode="before")
    @classmethod
    def _labels_from_text(cls, value: Any) -> Any:
        if isinstance(value, str):
            return parse_labels(value)
        return value

    @field_validator("labels")
    @classmethod
    def _labels_are_valid(cls, value: dict[str, str]) -> dict[str, str]:
        for key, item in value.items():
            problem = label_problem(key, item)
            if problem:
                raise ValueError(problem)
        return value

    @field_validator("tls_ca", "data_dir")
    @classmethod
    def _expand(cls, value: Path | None) -> Path | None:
        return value.expanduser() if value is not None else None
