"""The registry of kinds: plural names, aliases and model classes."""

from __future__ import annotations

from xene.api.agent import Agent
from xene.api.errors import NotFound
from xene.api.meta import Resource
from xene.api.pipeline import Pipeline
from xene.api.run import PipelineRun
from xene.api.trigger import Trigger
from xene.api.workflow import Workflow

KINDS: dict[str, type[Resource]] = {
    cls.plural: cls for cls in (Workflow, Pipeline, Trigger, Agent, PipelineRun)
}

_ALIASES: dict[str, str] = {
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


def resolve_kind(name: str) -> type[Resource]:
    """The model class for a kind given as plural, singular, Kind or short alias."""
    key = name.strip().lower()
    plural = key if key in KINDS else _ALIASES.get(key)
    if plural is None:
        known = ", ".join(sorted(KINDS))
        raise NotFound(f"unknown kind '{name}': known kinds are {known}")
    return KINDS[plural]


def kind_by_name(kind: str) -> type[Resource]:
    """The model class for a `kind:` value such as `Workflow`."""
    for cls in KINDS.values():
        if cls.kind_name == kind:
            return cls
    raise NotFound(f"unknown kind '{kind}'")
