"""The store's key layout; no etcd needed since nothing is sent."""

from __future__ import annotations

import pytest

from xene.api.agent import Agent
from xene.api.errors import Invalid
from xene.api.run import PipelineRun
from xene.api.workflow import Workflow
from xene.store.election import Election
from xene.store.keys import KeyLayout
from xene.store.objects import ObjectStore


@pytest.fixture
def store() -> ObjectStore:
    return ObjectStore.in_memory(prefix="/xene/")


def test_objects_live_under_the_registry(store: ObjectStore):
    assert store.prefix == "/xene"
    assert store.object_key(Workflow, "hello") == "/xene/registry/workflows/hello"
    assert store.kind_prefix(PipelineRun) == "/xene/registry/pipelineruns/"
    # One kind's prefix never covers another's.
    assert not store.kind_prefix(PipelineRun).startswith(store.kind_prefix(Agent))


@pytest.mark.parametrize("name", ["", "a/b", " lead", "x" * 254])
def test_names_that_break_the_layout_are_invalid(store: ObjectStore, name: str):
    with pytest.raises(Invalid, match=r"metadata\.name"):
        store.object_key(Agent, name)


def test_other_keys_stay_out_of_the_registry_and_of_each_other():
    keys = KeyLayout("/xene")
    others = [
        keys.alive("a1"),
        keys.command("a1", "0001-ab"),
        keys.run_sequence("wf.p"),
        keys.dedup("wf.p", "cron:t:1"),
        keys.election("controllers"),
        keys.readiness,
    ]
    assert all(key.startswith("/xene/") for key in others)
    assert not any(key.startswith("/xene/registry/") for key in others)
    assert keys.alive("a1") != keys.alive("a10")
    assert not keys.commands_of("a1").startswith(keys.commands_of("a10"))
    with pytest.raises(Invalid, match="command id"):
        keys.command("a1", "a/b")


def test_an_empty_prefix_is_refused():
    with pytest.raises(Invalid, match="prefix"):
        ObjectStore.in_memory(prefix="/")


def test_elections_live_under_the_prefix_unless_named_by_key(store: ObjectStore):
    assert store.election("controllers", "me").key == "/xene/elections/controllers"
    assert Election(store.election("x", "me").client, "/other/leader", "me").key == "/other/leader"
    with pytest.raises(ValueError, match="identity"):
        store.election("controllers", "")
    with pytest.raises(ValueError, match="empty"):
        store.election("/", "me")
