"""Where xenectl finds the API server: flags, `XENE_*` variables, the config file, defaults."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, SecretStr, field_validator

from xene.api.errors import FieldError, Invalid
from xene.settings import ENV_PREFIX, load_settings

DEFAULT_SERVER = "http://127.0.0.1:8080"
DEFAULT_CONFIG_PATH = Path("~/.xene/config")
CONFIG_ENV = "XENE_CONFIG"


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


class CtlSettings(BaseModel):
    """Everything xenectl needs to reach the API server."""

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
    """The config file: `$XENE_CONFIG`, else `~/.xene/config`."""
    env = os.environ if environ is None else environ
    override = env.get(CONFIG_ENV)
    return Path(override).expanduser() if override else DEFAULT_CONFIG_PATH.expanduser()


def load_ctl_settings(
    server: str | None = None,
    token: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> CtlSettings:
    """Flags win over `XENE_SERVER`/`XENE_TOKEN`, which win over the config file, over defaults."""
    path = config_path(environ)
    read_config_file(path)  # fails with a message naming the file when it is not a mapping
    try:
        return load_settings(
            CtlSettings, {"server": server, "token": token}, config_file=path, environ=environ
        )
    except Invalid as exc:
        # load_settings names flags; here a value may as well come from the env or the file.
        problems = []
        for error in exc.errors:
            name = error.path.lstrip("-")
            env_name = ENV_PREFIX + name.upper()
            problems.append(
                FieldError(
                    f"{name} (set by --{name}, {env_name} or {path})",
                    error.message.removeprefix("Value error, "),
                )
            )
        raise Invalid(problems) from exc


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


def explain_settings(
    settings: CtlSettings,
    flags: Mapping[str, str | None],
    environ: Mapping[str, str] | None = None,
) -> list[SettingSource]:
    """Each connection setting with its (masked) value and where it was set."""
    env = os.environ if environ is None else environ
    path = config_path(env)
    file_values = read_config_file(path)
    explained = []
    for name in ("server", "token"):
        env_name = ENV_PREFIX + name.upper()
        if flags.get(name):
            origin = f"--{name} flag"
        elif env.get(env_name):
            origin = env_name
        elif file_values.get(name) not in (None, ""):
            origin = str(path)
        else:
            origin = "default"
        if name == "token":
            value = mask_token(settings.token_value)
        else:
            value = settings.server
        explained.append(SettingSource(name, value, origin))
    return explained


def mask_token(token: str | None) -> str:
    """A token hidden but for its last characters, enough to tell two tokens apart."""
    if not token:
        return "<none>"
    if len(token) <= 8:
        return "****"
    return "****" + token[-4:]
