"""The names of the kinds as people type them: plural, singular, Kind and short aliases.

Plain strings, no models: xenectl resolves and completes kinds without importing pydantic.
"""

from __future__ import annotations

from xene.api.errors import NotFound

API_GROUP = "xene.dev"
API_VERSION = f"{API_GROUP}/v1"

# plural -> Kind, in the order help texts and completions list them.
KIND_OF_PLURAL: dict[str, str] = {
    "workflows": "Workflow",
    "pipelines": "Pipeline",
    "triggers": "Trigger",
    "agents": "Agent",
    "pipelineruns": "PipelineRun",
}

ALIASES: dict[str, str] = {
    "workflow": "workflows",
    "wf": "workflows",
    "pipeline": "pipelines",
    "pl": "pipelines",
    "trigger": "triggers",
    "tr": "triggers",
    "agent": "agents",
    "ag": "agents",
    "pipelinerun": "pipelineruns",
    "run": "pipelineruns",
    "runs": "pipelineruns",
    "pr": "pipelineruns",
}

USER_WRITABLE = {"workflows"}


def resolve_plural(name: str) -> str:
    """The plural of a kind given as plural, singular, Kind or short alias; NotFound otherwise."""
    key = name.strip().lower()
    plural = key if key in KIND_OF_PLURAL else ALIASES.get(key)
    if plural is None:
        known = ", ".join(sorted(KIND_OF_PLURAL))
        raise NotFound(f"unknown kind '{name}': known kinds are {known}")
    return plural


def plural_of_kind(kind: str) -> str:
    """The plural of a `kind:` value such as `Workflow`; NotFound otherwise."""
    for plural, kind_name in KIND_OF_PLURAL.items():
        if kind_name == kind:
            return plural
    raise NotFound(f"unknown kind '{kind}'")
