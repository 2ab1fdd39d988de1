"""The kind names xenectl resolves without the models agree with the models."""

from __future__ import annotations

import pytest

from xene.api.errors import NotFound
from xene.api.kind_names import ALIASES, KIND_OF_PLURAL, plural_of_kind, resolve_plural
from xene.api.kinds import KINDS, kind_by_name, resolve_kind


def test_names_and_models_agree() -> None:
    assert list(KINDS) == list(KIND_OF_PLURAL)
    for plural, cls in KINDS.items():
        assert cls.kind_name == KIND_OF_PLURAL[plural]
        assert resolve_kind(cls.kind_name) is cls
        assert kind_by_name(cls.kind_name) is cls
    assert set(ALIASES.values()) <= set(KINDS)


@pytest.mark.parametrize(
    ("typed", "plural"),
    [("wf", "workflows"), ("Pipeline", "pipelines"), ("RUN", "pipelineruns"), ("agents", "agents")],
)
def test_every_spelling_resolves(typed: str, plural: str) -> None:
    assert resolve_plural(typed) == plural


def test_unknown_kinds_are_not_found_naming_the_known_ones() -> None:
    with pytest.raises(NotFound, match="unknown kind 'gizmo': known kinds are agents, "):
        resolve_plural("gizmo")
    with pytest.raises(NotFound, match="unknown kind 'workflow'"):
        plural_of_kind("workflow")  # a `kind:` value is the Kind, case and all
