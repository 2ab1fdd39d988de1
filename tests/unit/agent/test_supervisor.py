"""The supervisor converges to the desired set and never runs two generations at once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from xene.agent.supervisor import AssignedPipeline, PipelineState, PipelineSupervisor
from xene.api.meta import ObjectMeta
from xene.api.pipeline import AgentPipelinePhase, Pipeline, PipelineObjectSpec
from xene.api.workflow import StepSpec, TaskSpec


def assigned(name: str, generation: int = 1, uid: str = "u1") -> AssignedPipeline:
    pipeline = Pipeline(
        metadata=ObjectMeta(name=name, uid=uid, generation=generation),
        spec=PipelineObjectSpec(
            workflow="wf",
            pipeline=name,
            tasks={"t": TaskSpec(steps=[StepSpec(name="s", run="true")])},
        ),
    )
    return AssignedPipeline(name, uid, generation, pipeline)


class Recorder:
    """A handler that logs start/stop and can be told to fail or to linger on stop."""

    def __init__(self) -> None:
        self.log: list[str] = []
        self.fail_times = 0
        self.stop_delay = 0.0

    async def run_pipeline(self, item: AssignedPipeline) -> None:
        self.log.append(f"start {item.name}@{item.generation}")
        if self.fail_times:
            self.fail_times -= 1
            raise RuntimeError("boom")
        try:
            await asyncio.Future()
        finally:
            await asyncio.shield(asyncio.sleep(self.stop_delay))
            self.log.append(f"stop {item.name}@{item.generation}")


@pytest.fixture
async def running() -> AsyncIterator[tuple[PipelineSupervisor, Recorder, list[PipelineState]]]:
    recorder = Recorder()
    supervisor = PipelineSupervisor(recorder, restart_initial_seconds=0.01)
    states: list[PipelineState] = []
    supervisor.state_listeners.append(states.append)
    task = asyncio.create_task(supervisor.run())
    await supervisor.started.wait()
    try:
        yield supervisor, recorder, states
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)
    await asyncio.sleep(0.05)


async def test_converge_starts_new_and_stops_removed_pipelines(running) -> None:
    supervisor, recorder, _ = running
    supervisor.converge([assigned("a"), assigned("b")])
    await settle()
    assert sorted(recorder.log) == ["start a@1", "start b@1"]
    supervisor.converge([assigned("b"), assigned("c")])
    await settle()
    assert recorder.log[2:] == ["stop a@1", "start c@1"] or sorted(recorder.log[2:]) == [
        "start c@1",
        "stop a@1",
    ]
    assert [a.name for a in supervisor.assigned] == ["b", "c"]


async def test_the_same_set_again_changes_nothing(running) -> None:
    supervisor, recorder, _ = running
    supervisor.converge([assigned("a")])
    await settle()
    supervisor.converge([assigned("a")])
    await settle()
    assert recorder.log == ["start a@1"]


async def test_a_new_generation_starts_only_after_the_old_one_stopped(running) -> None:
    supervisor, recorder, _ = running
    recorder.stop_delay = 0.1
    supervisor.converge([assigned("a", 1)])
    await settle()
    supervisor.converge([assigned("a", 2)])
    await asyncio.sleep(0.3)
    assert recorder.log == ["start a@1", "stop a@1", "start a@2"]


async def test_a_recreated_pipeline_of_the_same_generation_restarts(running) -> None:
    supervisor, recorder, _ = running
    supervisor.converge([assigned("a", 1, uid="old")])
    await settle()
    supervisor.converge([assigned("a", 1, uid="new")])
    await settle()
    assert recorder.log == ["start a@1", "stop a@1", "start a@1"]


async def test_a_failing_handler_is_reported_and_restarted(running) -> None:
    supervisor, recorder, states = running
    recorder.fail_times = 1
    supervisor.converge([assigned("a")])
    await asyncio.sleep(0.2)
    assert recorder.log == ["start a@1", "start a@1"]
    phases = [(s.phase, s.message) for s in states]
    assert (AgentPipelinePhase.ERROR, "boom") in phases
    assert phases[-1] == (AgentPipelinePhase.RUNNING, "")


async def test_stop_all_stops_everything(running) -> None:
    supervisor, recorder, _ = running
    supervisor.converge([assigned("a"), assigned("b")])
    await settle()
    supervisor.stop_all("fenced")
    await settle()
    assert sorted(recorder.log[2:]) == ["stop a@1", "stop b@1"]
    assert supervisor.assigned == [] and supervisor.states() == []


async def test_an_unreadable_pipeline_is_reported_not_run(running) -> None:
    supervisor, recorder, states = running
    supervisor.converge([AssignedPipeline("x", "u", 1, None, "bad field")])
    await settle()
    assert recorder.log == []
    assert states[-1].phase == AgentPipelinePhase.ERROR and states[-1].message == "bad field"
