"""Every replica caches what agent streams need; what only controllers read waits for the lead."""

from __future__ import annotations

from xene.apiserver.controllers.agents import AgentController
from xene.apiserver.controllers.run_gc import RunHistoryCollector
from xene.apiserver.controllers.runs import RunDispatcher
from xene.apiserver.controllers.scheduler import SchedulerController
from xene.apiserver.controllers.workflows import WorkflowController
from xene.apiserver.services.agents import AgentService
from xene.apiserver.services.cluster_view import ClusterView
from xene.apiserver.services.logstore import FileLogStore
from xene.apiserver.services.runs import RunService
from xene.store.objects import ObjectStore
from xene.store.shared_informers import SharedInformers


def test_building_the_controllers_caches_nothing_until_they_run(
    memory_store: ObjectStore, tmp_path
) -> None:
    informers = SharedInformers(memory_store)
    view = ClusterView(informers)
    AgentService(memory_store, view, identity="r")
    runs = RunService(memory_store)
    WorkflowController(memory_store, informers)
    SchedulerController(memory_store, view)
    AgentController(memory_store, view)
    RunDispatcher(memory_store, view, runs)
    RunHistoryCollector(informers, runs, FileLogStore(tmp_path))

    assert sorted(informer.source.description for informer in informers) == [
        "agent commands",
        "agent liveness keys",
        "agents",
        "pipelines",
    ]
