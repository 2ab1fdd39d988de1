"""The registry of kinds: plural names to model classes (the names themselves: kind_names.py)."""

from __future__ import annotations

from xene.api.agent import Agent
from xene.api.kind_names import plural_of_kind, resolve_plural
from xene.api.meta import Resource
from xene.api.pipeline import Pipeline
from xene.api.run import PipelineRun
from xene.api.trigger import Trigger
from xene.api.workflow import Workflow

KINDS: dict[str, type[Resource]] = {
    cls.plural: cls for cls in (Workflow, Pipeline, Trigger, Agent, PipelineRun)
}


def resolve_kind(name: str) -> type[Resource]:
    """The model class for a kind given as plural, singular, Kind or short alias."""
    return KINDS[resolve_plural(name)]


def kind_by_name(kind: str) -> type[Resource]:
    """The model class for a `kind:` value such as `Workflow`."""
    return KINDS[plural_of_kind(kind)]
