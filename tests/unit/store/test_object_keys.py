"""Key layout of the ObjectStore; no etcd needed since nothing is sent."""

from __future__ import annotations

import pytest

from xene.api.agent import Agent
from xene.api.errors import Invalid
from xene.api.run import PipelineRun
from xene.api.workflow import Workflow
from xene.store.election import Election
from xene.store.etcd import EtcdClient
from xene.store.objects import ObjectStore


@pytest.fixture
def store() -> ObjectStore:
    # Channels open lazily: building a client sends nothing.
    return ObjectStore(EtcdClient("127.0.0.1:1"), prefix="/xene/")


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


def test_raw_keys_stay_out_of_the_registry(store: ObjectStore):
    assert store.raw_key("sequences/runs/a.b") == "/xene/sequences/runs/a.b"
    for bad in ("registry/agents/x", "elections/x", "/abs", "trailing/", ""):
        with pytest.raises(Invalid):
            store.raw_key(bad)


def test_an_empty_prefix_is_refused():
    with pytest.raises(Invalid, match="prefix"):
        ObjectStore(EtcdClient("127.0.0.1:1"), prefix="/")


def test_elections_live_under_the_prefix_unless_named_by_key(store: ObjectStore):
    assert store.election("controllers", "me").key == "/xene/elections/controllers"
    assert Election(store.client, "/other/leader", "me").key == "/other/leader"
    with pytest.raises(ValueError, match="identity"):
        Election(store.client, "controllers", "")
