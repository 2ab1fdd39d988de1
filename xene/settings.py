"""Settings of Xene's programs: flags over environment variables over a YAML file over defaults.

Each program's settings class derives from `XeneSettings` and names its `EnvironmentScheme`;
pydantic-settings reads the flags, the program's environment variables and its config file and
validates the merged result. This module adds what a settings library leaves open, so that no
setting is silently ignored:

- a variable under the program's own prefix that names no setting is refused, with the closest
  valid name (`XENE_AGENT_CAPACTY` -> `XENE_AGENT_CAPACITY`), and so is an older unprefixed
  name that is a near miss of one (`XENE_HTTP_ADRESS`); other programs' variables pass;
- a config file key that names no setting is refused the same way;
- a config file named explicitly (flag or variable) must exist;
- a bad value is reported with where it came from (flag, variable or file);
- the resolved settings are described for the start-up log with their origins, secrets masked.

Prefixes: xene-apiserver reads `XENE_APISERVER_*` (and its older names `XENE_HTTP_ADDRESS`, ...,
after those), xene-agent `XENE_AGENT_*`, xenectl `XENE_SERVER` and `XENE_TOKEN`.
"""

from __future__ import annotations

import difflib
import os
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Generic, TypeVar

import click
import yaml
from pydantic import BaseModel, SecretStr, ValidationError
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from xene.api.errors import FieldError, Invalid

# How alike an unprefixed variable must be to a setting's name to count as a misspelling of it
# (difflib's ratio: XENE_HTTP_ADRESS vs http_address is 0.96, XENE_TOKEN vs api_token 0.71).
NEAR_MISS = 0.8
DEFAULT_ORIGIN = "default"


@dataclass(frozen=True)
class EnvironmentScheme:
    """Which environment variables a program reads as settings, and which it refuses."""

    program: str
    # Every setting NAME is read from PREFIX + NAME (upper case).
    prefix: str
    # Whether every variable under `prefix` must name a setting; False for a prefix other
    # programs share (xenectl's XENE_).
    strict: bool = True
    # Older names still read, after the prefixed ones; near misses of a setting are refused.
    legacy_prefix: str = ""
    # Variables under the prefixes that are no settings of this program (its config file
    # variable, another program's settings that share the prefix).
    not_settings: frozenset[str] = frozenset()
    # Other programs' variables under `legacy_prefix`: exact names, or prefixes ending in `_`.
    others: tuple[str, ...] = ()
    # Variables no longer read, with what to use instead.
    retired: Mapping[str, str] = field(default_factory=dict)

    def variable(self, name: str) -> str:
        """The environment variable of setting `name`."""
        return self.prefix + name.upper()

    def belongs_to_others(self, variable: str) -> bool:
        """Whether `variable` is another program's (so this one ignores it)."""
        return any(
            variable.startswith(other) if other.endswith("_") else variable == other
            for other in self.others
        )


class XeneSettings(BaseSettings):
    """Base of every program's settings: unknown keys refused, lists given as `a,b` in variables."""

    # enable_decoding=False: a list or mapping comes from a variable as `a,b` or `k=v,k2=v2`
    # (split by the fields' validators), the same text its flag takes, not as JSON.
    model_config = SettingsConfigDict(extra="forbid", enable_decoding=False, env_ignore_empty=True)

    environment: ClassVar[EnvironmentScheme]
    # Flags whose name is not `--` + the setting's name with dashes.
    flag_names: ClassVar[Mapping[str, str]] = {}

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Built directly (`AgentSettings(name="a")`), settings take the given values alone:
        only `load_settings` reads the environment and files, with its checks."""
        return (init_settings,)

    @classmethod
    def flag(cls, name: str) -> str:
        """The command-line flag of setting `name`."""
        return cls.flag_names.get(name, "--" + name.replace("_", "-"))


SettingsT = TypeVar("SettingsT", bound=XeneSettings)


@dataclass(frozen=True)
class ConfigFile:
    """A settings file and how it was chosen."""

    path: Path
    # What named it ("--config", a variable); None: the default location, which may be absent.
    named_by: str | None = None


def config_file_option(given: Path | None, default: Path, variable: str) -> ConfigFile:
    """The config file a `--config` option (with `envvar=variable`) of the running command chose."""
    if given is None:
        return ConfigFile(default.expanduser())
    source = click.get_current_context().get_parameter_source("config_file")
    named_by = variable if source is click.core.ParameterSource.ENVIRONMENT else "--config"
    return ConfigFile(given.expanduser(), named_by)


@dataclass(frozen=True)
class ResolvedSettings(Generic[SettingsT]):
    """Settings with where each came from and which config file was read."""

    settings: SettingsT
    # Setting name -> the flag, variable or file that set it; absent: its default.
    origins: Mapping[str, str]
    config: ConfigFile | None
    config_loaded: bool

    def describe(self) -> str:
        """The config file and one line per setting with its origin, secrets masked."""
        if self.config is None:
            head = "config file: none"
        elif self.config_loaded:
            head = f"config file: {self.config.path} (loaded)"
        else:
            head = f"config file: none ({self.config.path} does not exist)"
        lines = [head + "; settings:"]
        for name in type(self.settings).model_fields:
            value = shown_value(getattr(self.settings, name))
            lines.append(f"  {name}={value}  ({self.origins.get(name, DEFAULT_ORIGIN)})")
        return "\n".join(lines)


def shown_value(value: object) -> str:
    """A setting's value for logs: secrets masked (a set secret shows as ****)."""
    if isinstance(value, SecretStr):
        return "****" if value.get_secret_value() else ""
    return str(value)


class _ConfigFileSource(YamlConfigSettingsSource):
    """The YAML config file: keys spelled as the flags (`-` or `_`), errors naming the file."""

    def _read_file(self, file_path: Any) -> dict[str, Any]:
        try:
            loaded = super()._read_file(file_path)
        except yaml.YAMLError as exc:
            raise Invalid([FieldError(str(file_path), f"not valid YAML: {exc}")]) from exc
        except (OSError, UnicodeDecodeError) as exc:
            raise Invalid([FieldError(str(file_path), f"cannot read it: {exc}")]) from exc
        if not isinstance(loaded, dict):
            problem = "a config file must be a YAML mapping of setting names to values"
            raise Invalid([FieldError(str(file_path), problem)])
        return {str(key).replace("-", "_"): value for key, value in loaded.items()}


def closest(name: str, candidates: list[str], cutoff: float = 0.0) -> str | None:
    """The candidate most like `name`, if any is at least `cutoff` alike."""
    found = difflib.get_close_matches(name, candidates, n=1, cutoff=cutoff)
    return found[0] if found else None


def environment_problems(
    cls: type[XeneSettings], environ: Mapping[str, str] | None = None
) -> list[FieldError]:
    """Variables that look like settings of `cls`'s program but name none, or are retired."""
    scheme = cls.environment
    names = list(cls.model_fields)
    problems = []
    for variable in sorted(os.environ if environ is None else environ):
        upper = variable.upper()
        if upper in scheme.retired:
            problems.append(FieldError(variable, scheme.retired[upper]))
        elif upper in scheme.not_settings:
            continue
        elif upper.startswith(scheme.prefix):
            key = upper[len(scheme.prefix) :].lower()
            if scheme.strict and key not in names:
                suggestion = scheme.variable(closest(key, names) or names[0])
                problems.append(
                    FieldError(
                        variable,
                        f"not a setting of {scheme.program}; did you mean {suggestion}?",
                    )
                )
        elif scheme.legacy_prefix and upper.startswith(scheme.legacy_prefix):
            key = upper[len(scheme.legacy_prefix) :].lower()
            if key in names or scheme.belongs_to_others(upper):
                continue
            near = closest(key, names, NEAR_MISS)
            if near is not None:
                problems.append(
                    FieldError(
                        variable,
                        f"not a setting of {scheme.program}; did you mean {scheme.variable(near)}?",
                    )
                )
    return problems


def _model_at(cls: type[BaseModel], loc: tuple[int | str, ...]) -> type[BaseModel] | None:
    """The model class that holds the value at `loc` inside `cls` (None if not a model)."""
    current: Any = cls
    for part in loc:
        if isinstance(part, str):
            if not (isinstance(current, type) and issubclass(current, BaseModel)):
                return None
            field_info = current.model_fields.get(part)
            if field_info is None:
                return None
            current = field_info.annotation
        # Unwrap Optional[...] and list[...] down to the element type.
        while typing.get_origin(current) in (list, typing.Union, types.UnionType):
            args = [arg for arg in typing.get_args(current) if arg is not type(None)]
            current = args[0] if args else None
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _error_path(
    cls: type[XeneSettings],
    loc: tuple[int | str, ...],
    origins: Mapping[str, str],
    config: ConfigFile | None,
) -> str:
    """Where the value at `loc` came from, as the user wrote it."""
    if not loc:
        return ""
    name = str(loc[0])
    origin = origins.get(name, DEFAULT_ORIGIN)
    if config is not None and origin == str(config.path):
        return f"{config.path}: " + ".".join(str(part) for part in loc)
    if origin == DEFAULT_ORIGIN:
        return f"{cls.flag(name)} (default)"
    return origin


def _field_errors(
    cls: type[XeneSettings],
    error: ValidationError,
    origins: Mapping[str, str],
    config: ConfigFile | None,
) -> list[FieldError]:
    problems = []
    for item in error.errors():
        loc = tuple(item["loc"])
        if item["type"] == "extra_forbidden":
            # Only a file can give an unknown key: flags and variables are matched by name.
            holder = _model_at(cls, loc[:-1])
            candidates = list(holder.model_fields) if holder is not None else []
            suggestion = closest(str(loc[-1]), candidates)
            message = "unknown key" + (f"; did you mean '{suggestion}'?" if suggestion else "")
            where = str(config.path) if config is not None else "settings"
            path = f"{where}: " + ".".join(str(part) for part in loc)
        else:
            message = str(item["msg"]).removeprefix("Value error, ")
            path = _error_path(cls, loc, origins, config)
        problems.append(FieldError(path, message))
    return problems


def _origins(
    labelled: list[tuple[PydanticBaseSettingsSource, Any]],
) -> dict[str, str]:
    """Setting name -> the label of the first (highest-priority) source that gives it."""
    origins: dict[str, str] = {}
    for source, label in labelled:
        for name in source():
            origins.setdefault(name, label(name) if callable(label) else label)
    return origins


def load_settings(
    cls: type[SettingsT],
    flags: Mapping[str, Any],
    config: ConfigFile | None = None,
) -> ResolvedSettings[SettingsT]:
    """Flags win over the program's variables, over its config file, over defaults.

    Raises Invalid naming every problem: unknown or retired variables, a missing explicit
    config file, unknown keys in it, values that do not validate.
    """
    scheme = cls.environment
    problems = environment_problems(cls)
    if config is not None and config.named_by is not None and not config.path.is_file():
        what = "does not exist" if not config.path.exists() else "is not a file"
        problems.append(FieldError(config.named_by, f"config file {config.path} {what}"))
    if problems:
        raise Invalid(problems)

    given = {key: value for key, value in flags.items() if value not in (None, (), [])}
    labelled: list[tuple[PydanticBaseSettingsSource, Any]] = [
        (InitSettingsSource(cls, init_kwargs=given), cls.flag),
        (EnvSettingsSource(cls, env_prefix=scheme.prefix), scheme.variable),
    ]
    if scheme.legacy_prefix:
        legacy = EnvSettingsSource(cls, env_prefix=scheme.legacy_prefix)
        labelled.append((legacy, lambda name: scheme.legacy_prefix + name.upper()))
    config_loaded = config is not None and config.path.is_file()
    if config is not None and config_loaded:
        labelled.append((_ConfigFileSource(cls, yaml_file=config.path), str(config.path)))

    origins = _origins(labelled)
    sources = tuple(source for source, _ in labelled)
    try:
        settings = cls(_build_sources=(sources, {}))
    except ValidationError as exc:
        raise Invalid(_field_errors(cls, exc, origins, config)) from exc
    return ResolvedSettings(settings, origins, config, config_loaded)
