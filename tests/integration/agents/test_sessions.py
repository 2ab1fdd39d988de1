"""Agent sessions against real etcd: liveness, takeover, fencing, commands, bad registrations."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter

import grpc
import pytest

from tests.fixtures.etcd import TcpProxy
from tests.integration.agents.conftest import LEASE_TTL, TOKEN, Cluster, eventually
from tests.unit.agent.runs.helpers import pipeline_object, run_object
from xene.agent.contract import CancelRun, Command, StartRun
from xene.api.agent import Agent, AgentPhase
from xene.api.errors import NotFound
from xene.api.meta import ObjectMeta
from xene.api.pipeline import Pipeline, PipelineObjectSpec
from xene.api.plan import compile_plan
from xene.api.workflow import StepSpec, TaskSpec
from xene.apiserver.services.runs import start_payload
from xene.proto.xene.v1 import agent_pb2
from xene.proto.xene.v1.agent_pb2_grpc import AgentServiceStub


async def create_pipeline(cluster: Cluster, name: str, **selector: str) -> Pipeline:
    pipeline = Pipeline(
        metadata=ObjectMeta(name=f"wf.{name}"),
        spec=PipelineObjectSpec(
            workflow="wf",
            pipeline=name,
            executor="process",
            agentSelector=selector,
            tasks={"main": TaskSpec(steps=[StepSpec(name="s", run="true")])},
        ),
    )
    return await cluster.store.create(pipeline)


async def placement(cluster: Cluster, name: str) -> str | None:
    return (await cluster.store.get(Pipeline, name)).status.agent


async def agent_phase(cluster: Cluster, name: str) -> AgentPhase | None:
    try:
        return (await cluster.store.get(Agent, name)).status.phase
    except NotFound:
        return None


def phase_is(cluster: Cluster, name: str, phase: AgentPhase):
    async def check() -> bool:
        return await agent_phase(cluster, name) == phase

    return check


async def test_heartbeats_keep_an_agent_ready_past_its_ttl(cluster: Cluster) -> None:
    agent = await cluster.start_agent("steady")
    await create_pipeline(cluster, "p")
    await eventually(lambda: agent.running == ["wf.p"], what="wf.p to run on steady")
    await asyncio.sleep(LEASE_TTL * 2.5)
    assert await agent_phase(cluster, "steady") == AgentPhase.READY
    assert await cluster.store.liveness.get("steady") is not None
    assert agent.running == ["wf.p"]
    assert [e.what for e in cluster.events] == ["start"]


async def test_a_cut_off_agent_stops_before_its_pipeline_starts_elsewhere(
    cluster: Cluster, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    proxy = TcpProxy(cluster.address)
    await proxy.start()
    try:
        cut_off = await cluster.start_agent("cut-off", address=proxy.endpoint)
        await eventually(lambda: cluster.service.sessions(), what="the first agent to connect")
        await create_pipeline(cluster, "job")
        await eventually(lambda: cut_off.running == ["wf.job"], what="wf.job on cut-off")
        spare = await cluster.start_agent("spare")
        await eventually(lambda: agent_phase(cluster, "spare"), what="spare to register")

        await proxy.cut()
        await eventually(
            lambda: spare.running == ["wf.job"],
            within=LEASE_TTL + 8,
            what="wf.job to move to spare",
        )
        assert cut_off.running == []
        stopped = next(e for e in cluster.events if e.agent == "cut-off" and e.what == "stop")
        started = next(e for e in cluster.events if e.agent == "spare" and e.what == "start")
        # Fencing: the old holder stopped before the new one started: never two at once.
        assert stopped.at < started.at
        assert "no heartbeat acknowledged by the server for the lease TTL" in caplog.text
        assert await placement(cluster, "wf.job") == "spare"

        # Back on the network, it converges to its (now empty) desired set.
        await proxy.start()
        await eventually(
            phase_is(cluster, "cut-off", AgentPhase.READY),
            within=15,
            what="cut-off to be Ready again",
        )
        await asyncio.sleep(0.5)
        assert cut_off.running == [] and spare.running == ["wf.job"]
    finally:
        await proxy.close()


async def test_a_second_stream_of_the_same_agent_replaces_the_first(
    cluster: Cluster, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    first = await cluster.start_agent("twin")
    await create_pipeline(cluster, "p")
    await eventually(lambda: first.running == ["wf.p"], what="wf.p on the first twin")
    second = await cluster.start_agent("twin")
    await eventually(lambda: second.running == ["wf.p"], what="wf.p on the second twin")
    await eventually(lambda: first.running == [], what="the first twin to stop wf.p")
    assert "another connection took over this agent's name" in caplog.text
    assert "connected again" in caplog.text
    sessions = cluster.service.sessions()
    assert len(sessions) == 1 and sessions[0].id != ""


async def test_goodbye_ends_liveness_at_once(cluster: Cluster) -> None:
    agent = await cluster.start_agent("polite")
    await eventually(lambda: agent_phase(cluster, "polite"), what="polite to register")
    await eventually(lambda: cluster.service.sessions(), what="a session")
    agent.stop.set()
    await asyncio.wait_for(agent.task, timeout=10)
    # Well within the lease TTL: the lease was revoked, not left to expire.
    await eventually(
        phase_is(cluster, "polite", AgentPhase.NOT_READY),
        within=LEASE_TTL - 0.5,
        what="polite to be NotReady",
    )
    assert await cluster.store.liveness.get("polite") is None


async def test_commands_are_delivered_acknowledged_and_deleted(cluster: Cluster) -> None:
    received: list[Command] = []

    def take(command: Command) -> str | None:
        received.append(command)
        return None if isinstance(command, StartRun) else "not now"

    run = run_object()
    pipeline = pipeline_object({"t": {"image": "busybox", "steps": [{"name": "s", "run": "true"}]}})
    # Stored while the agent is away: delivered when it connects.
    early = await cluster.service.send_command(
        "worker", "StartRun", "wf.build.1", start_payload(run, pipeline)
    )
    agent = await cluster.start_agent("worker", command_handler=take)
    await eventually(lambda: len(received) == 1, what="the stored command")
    start = received[0]
    assert isinstance(start, StartRun) and start.id == early.id
    assert (start.name, start.pipeline.name) == ("wf.build.1", "wf.build")
    assert start.plan == compile_plan(pipeline.spec)

    await cluster.service.send_command("worker", "CancelRun", "wf.build.1", {"reason": "user"})
    await eventually(lambda: len(received) >= 2, what="the live command")
    assert received[1] == CancelRun(received[1].id, "wf.build.1", 0, "user")

    async def backlog_empty() -> bool:
        return not await cluster.store.commands.list("worker")

    await eventually(backlog_empty, what="acknowledged commands to be deleted")
    await asyncio.sleep(0.3)
    assert len(received) == 2, "a command was delivered twice"
    assert agent.running == []


async def _status_of_stream(address: str, hello: agent_pb2.Hello, token: str) -> grpc.StatusCode:
    async def requests():
        yield agent_pb2.AgentMessage(hello=hello)
        await asyncio.sleep(10)

    async with grpc.aio.insecure_channel(address) as channel:
        call = AgentServiceStub(channel).Connect(
            requests(), metadata=(("authorization", f"Bearer {token}"),)
        )
        try:
            async for _ in call:
                pass
        except grpc.aio.AioRpcError as error:
            return error.code()
    return grpc.StatusCode.OK


async def test_bad_registrations_are_refused_with_a_reason(cluster: Cluster) -> None:
    bad_name = agent_pb2.Hello(name="Not A Name", capacity=1)
    assert await _status_of_stream(cluster.address, bad_name, TOKEN) == (
        grpc.StatusCode.INVALID_ARGUMENT
    )
    no_capacity = agent_pb2.Hello(name="ok", capacity=0)
    assert await _status_of_stream(cluster.address, no_capacity, TOKEN) == (
        grpc.StatusCode.INVALID_ARGUMENT
    )
    assert (
        await _status_of_stream(cluster.address, agent_pb2.Hello(name="ok", capacity=1), "wrong")
        == grpc.StatusCode.UNAUTHENTICATED
    )
    assert await agent_phase(cluster, "ok") is None


async def test_concurrent_pipelines_never_overfill_an_agent(cluster: Cluster) -> None:
    for name in ("cap-a", "cap-b", "cap-c"):
        await cluster.start_agent(name, capacity=2)
    await eventually(lambda: len(cluster.service.sessions()) == 3, what="three agents")
    await asyncio.gather(*(create_pipeline(cluster, f"p{i}") for i in range(10)))

    async def decided() -> list[Pipeline] | None:
        items, _ = await cluster.store.list(Pipeline)
        done = len(items) == 10 and all(p.status.agent or p.status.reason for p in items)
        return items if done else None

    items = await eventually(decided, what="every pipeline placed or refused")
    per_agent = Counter(p.status.agent for p in items if p.status.agent)
    assert per_agent == {"cap-a": 2, "cap-b": 2, "cap-c": 2}
    refused = [p for p in items if not p.status.agent]
    assert len(refused) == 4 and {p.status.reason for p in refused} == {"AgentsFull"}
    assert {p.status.phase for p in refused} == {"NotScheduled"}
