"""Resolve flags, `XENE_*` environment variables and a YAML config file into one typed object."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, SecretStr, ValidationError

from xene.api.errors import FieldError, Invalid

SettingsT = TypeVar("SettingsT", bound=BaseModel)

ENV_PREFIX = "XENE_"


def _from_environment(cls: type[BaseModel], environ: Mapping[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for field_name, field in cls.model_fields.items():
        raw = environ.get(ENV_PREFIX + field_name.upper())
        if raw is None or raw == "":
            continue
        annotation = str(field.annotation)
        values[field_name] = (
            [item.strip() for item in raw.split(",") if item.strip()]
            if annotation.startswith("list")
            else raw
        )
    return values


def _from_file(path: Path | None) -> dict[str, Any]:
    if path is None or not path.exists():
        return {}
    try:
        loaded = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise Invalid([FieldError(str(path), f"not valid YAML: {exc}")]) from exc
    if not isinstance(loaded, dict):
        raise Invalid([FieldError(str(path), "a config file must be a YAML mapping")])
    return {str(key).replace("-", "_"): value for key, value in loaded.items()}


def load_settings(
    cls: type[SettingsT],
    flags: Mapping[str, Any],
    config_file: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> SettingsT:
    """Flags win over `XENE_*` variables, which win over the config file, over defaults."""
    merged = _from_file(config_file)
    merged.update(_from_environment(cls, os.environ if environ is None else environ))
    merged.update({key: value for key, value in flags.items() if value not in (None, (), [])})
    try:
        return cls.model_validate(merged)
    except ValidationError as exc:
        problems = [
            FieldError(
                "--" + ".".join(str(part) for part in error["loc"]).replace("_", "-"),
                error["msg"],
            )
            for error in exc.errors()
        ]
        raise Invalid(problems) from exc


def describe_settings(settings: BaseModel) -> str:
    """One line per setting, secrets masked, for the start-up log."""
    lines = []
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if isinstance(value, SecretStr):
            value = "****" if value.get_secret_value() else ""
        lines.append(f"  {name}={value}")
    return "\n".join(lines)
