"""An agent that cannot renew its lease stops its pipelines once the TTL may have run out."""

from __future__ import annotations

import asyncio

from tests.unit.agent.test_supervisor import assigned
from xene.agent.connection import ServerConnection, decode_assignment
from xene.agent.settings import AgentSettings
from xene.agent.supervisor import PipelineSupervisor
from xene.proto.xene.v1 import agent_pb2


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_pipelines_stop_once_the_last_renewal_is_a_ttl_old() -> None:
    supervisor = PipelineSupervisor()
    task = asyncio.create_task(supervisor.run())
    await supervisor.started.wait()
    clock = FakeClock()
    connection = ServerConnection(AgentSettings(name="a"), supervisor, monotonic=clock)
    try:
        supervisor.converge([assigned("p")])
        connection.lease_ttl = 10.0
        connection._extend_lease(clock.now + 10.0)  # a heartbeat sent now was acknowledged

        clock.now += 9.9
        assert not connection.check_fence()
        assert [a.name for a in supervisor.assigned] == ["p"]

        clock.now += 0.1
        assert connection.check_fence()
        assert supervisor.assigned == []
        # Fenced once; nothing more to do until the next Welcome renews the lease.
        assert connection.renewed_until is None and not connection.check_fence()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_an_acknowledged_heartbeat_extends_from_when_it_was_sent() -> None:
    clock = FakeClock()
    connection = ServerConnection(AgentSettings(name="a"), PipelineSupervisor(), monotonic=clock)
    connection.lease_ttl = 10.0
    connection._heartbeat_sent[1] = 100.0
    clock.now = 103.0
    connection._acknowledged(1)
    assert connection.renewed_until == 110.0
    connection._acknowledged(1)  # a duplicate ack changes nothing
    assert connection.renewed_until == 110.0


def test_an_unreadable_assignment_carries_its_problem() -> None:
    item = decode_assignment(
        agent_pb2.Assignment(name="x", generation=2, uid="u", pipeline_json=b'{"kind": 1}')
    )
    assert item.pipeline is None and item.problem and "cannot read" in item.problem
