"""The executor kinds a pipeline may name: `docker`, `process` and `external:<provider>`.

The one place their spellings live: validation, the agent's flags and settings, `xenectl run
--local`, `describe` and the engine's registry of executor factories all read them from here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

HostKind = Literal["docker", "process"]
DOCKER: HostKind = "docker"
PROCESS: HostKind = "process"
EXTERNAL = "external"
EXTERNAL_PREFIX = f"{EXTERNAL}:"
DEFAULT_EXECUTOR: HostKind = DOCKER
# The kinds that run steps on the host they are on: an agent offers these, `--local` uses them.
HOST_KINDS: tuple[HostKind, ...] = get_args(HostKind)


@dataclass(frozen=True)
class ExecutorName:
    """A pipeline's `executor` field taken apart: `external:jenkins` is kind external with
    provider jenkins; docker and process have no provider."""

    kind: str
    provider: str | None = None

    def __str__(self) -> str:
        return f"{self.kind}:{self.provider}" if self.provider is not None else self.kind


def parse_executor(text: str) -> ExecutorName:
    """The kind (and provider) `text` names, the default for an empty text; raises ValueError
    for anything else (validation has already refused it in a stored pipeline)."""
    if not text:
        return ExecutorName(DEFAULT_EXECUTOR)
    if text in HOST_KINDS:
        return ExecutorName(text)
    if text.startswith(EXTERNAL_PREFIX) and len(text) > len(EXTERNAL_PREFIX):
        return ExecutorName(EXTERNAL, text[len(EXTERNAL_PREFIX) :])
    raise ValueError(f"unknown executor '{text}' (use docker, process or external:<provider>)")
