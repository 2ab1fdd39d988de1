"""Where xenectl finds the API server: flags, `XENE_SERVER`/`XENE_TOKEN`, the config file, defaults.

The config file is `$XENECTL_CONFIG`, else `~/.xene/config`; its variable is xenectl's own so that
it never names the servers' files (they read XENE_APISERVER_CONFIG and XENE_AGENT_CONFIG).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit

import yaml
from pydantic import SecretStr, field_validator

from xene.api.errors import FieldError, Invalid
from xene.settings import ConfigFile, EnvironmentScheme, XeneSettings, load_settings

DEFAULT_SERVER = "http://127.0.0.1:8080"
DEFAULT_CONFIG_PATH = Path("~/.xene/config")
CONFIG_ENV = "XENECTL_CONFIG"

ENVIRONMENT = EnvironmentScheme(
    program="xenectl",
    prefix="XENE_",
    # XENE_ is shared with the servers' older names and the variables of running tasks.
    strict=False,
    retired={
        "XENE_CONFIG": (
            "no longer read: it named both xenectl's and the apiserver's config file; use "
            f"{CONFIG_ENV} for xenectl's (and XENE_APISERVER_CONFIG for xene-apiserver's)"
        ),
    },
)


def normalize_server(value: str) -> str:
    """`host:port` or a URL as `http(s)://host:port` without a trailing slash."""
    text = value.strip()
    if not text:
        raise ValueError("the server address is empty: use e.g. http://127.0.0.1:8080")
    if "://" not in text:
        text = "http://" + text
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"'{value}' is not an http:// or https:// address")
    try:
        _ = parts.port  # urlsplit checks the port only when asked for it
    except ValueError:
        raise ValueError(f"'{value}' has an invalid port") from None
    if not parts.hostname:
        raise ValueError(f"'{value}' names no host: use e.g. http://127.0.0.1:8080")
    if parts.query or parts.fragment:
        raise ValueError(f"'{value}' must not carry a query or fragment")
    return text.rstrip("/")


class CtlSettings(XeneSettings):
    """Everything xenectl needs to reach the API server."""

    environment: ClassVar[EnvironmentScheme] = ENVIRONMENT

    server: str = DEFAULT_SERVER
    token: SecretStr = SecretStr("")

    @field_validator("server")
    @classmethod
    def _normalize_server(cls, value: str) -> str:
        return normalize_server(value)

    @property
    def token_value(self) -> str | None:
        """The bearer token, or None when none is configured."""
        return self.token.get_secret_value() or None


def config_path(environ: Mapping[str, str] | None = None) -> Path:
    """The config file: `$XENECTL_CONFIG`, else `~/.xene/config`."""
    env = os.environ if environ is None else environ
    override = env.get(CONFIG_ENV)
    return Path(override).expanduser() if override else DEFAULT_CONFIG_PATH.expanduser()


def _config_file() -> ConfigFile:
    # A file named by XENECTL_CONFIG may be missing: `xenectl config set-server` creates it.
    return ConfigFile(config_path())


def load_ctl_settings(server: str | None = None, token: str | None = None) -> CtlSettings:
    """Flags win over `XENE_SERVER`/`XENE_TOKEN`, which win over the config file, over defaults."""
    return load_settings(CtlSettings, {"server": server, "token": token}, _config_file()).settings


def read_config_file(path: Path) -> dict[str, Any]:
    """The config file's mapping; empty when the file does not exist."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        problem = FieldError(str(path), f"cannot read the config file: {exc.strerror}")
        raise Invalid([problem]) from exc
    try:
        loaded = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise Invalid([FieldError(str(path), f"not valid YAML: {exc}")]) from exc
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise Invalid([FieldError(str(path), "the config file must be a YAML mapping")])
    return loaded


def write_config_values(path: Path, values: Mapping[str, str]) -> None:
    """Set `values` in the config file, keeping its other keys; the file stays private (0600)."""
    current = read_config_file(path)
    current.update(values)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    # Written to a temporary file then renamed, so a crash never leaves half a config behind.
    temporary = path.with_name(path.name + ".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        yaml.safe_dump(current, handle, sort_keys=False)
    os.replace(temporary, path)


@dataclass(frozen=True)
class SettingSource:
    """Where one setting's value came from, for `xenectl config view`."""

    name: str
    value: str
    origin: str


def explain_settings(flags: Mapping[str, str | None]) -> list[SettingSource]:
    """Each connection setting with its (masked) value and where it was set."""
    resolved = load_settings(CtlSettings, flags, _config_file())
    settings = resolved.settings

    def origin(name: str) -> str:
        found = resolved.origins.get(name, "default")
        return f"{found} flag" if found.startswith("--") else found

    return [
        SettingSource("server", settings.server, origin("server")),
        SettingSource("token", mask_token(settings.token_value), origin("token")),
    ]


def mask_token(token: str | None) -> str:
    """A token hidden but for its last characters, enough to tell two tokens apart."""
    if not token:
        return "<none>"
    if len(token) <= 8:
        return "****"
    return "****" + token[-4:]
