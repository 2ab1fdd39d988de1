"""Light simulated agents: one Connect stream each, Hello, heartbeats, and the assignments seen.

They speak the real protocol through the generated stubs but run nothing: enough to load the
apiserver with a thousand agents from one asyncio process.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from xene.proto.xene.v1 import agent_pb2
from xene.proto.xene.v1.agent_pb2_grpc import AgentServiceStub

_CHANNEL_OPTIONS = [
    # Separate connections per channel, as separate agent hosts would have.
    ("grpc.use_local_subchannel_pool", 1),
    ("grpc.max_receive_message_length", 64 * 1024 * 1024),
]


class SimAgent:
    """One simulated agent; `assigned` is the set of pipelines its last Assignments named."""

    def __init__(
        self,
        name: str,
        labels: dict[str, str],
        capacity: int,
        on_change: Callable[[SimAgent], None],
        *,
        report_states: bool = False,
    ) -> None:
        self.name = name
        self.labels = labels
        self.capacity = capacity
        self.assigned: set[str] = set()
        self.welcomed = asyncio.Event()
        self.error: str | None = None
        self._on_change = on_change
        self._report_states = report_states
        self._outbox: asyncio.Queue[agent_pb2.AgentMessage | None] = asyncio.Queue()
        self._call: grpc.aio.StreamStreamCall | None = None
        self._task: asyncio.Task[None] | None = None

    async def _messages(self) -> AsyncIterator[agent_pb2.AgentMessage]:
        hello = agent_pb2.Hello(
            name=self.name,
            labels=self.labels,
            capacity=self.capacity,
            version="bench",
            hostname="bench",
            executors=["process"],
            parallelism=1,
        )
        yield agent_pb2.AgentMessage(hello=hello)
        while (message := await self._outbox.get()) is not None:
            yield message

    def start(self, channel: grpc.aio.Channel) -> None:
        """Open the stream and keep it served in a task."""
        self._task = asyncio.create_task(self._serve(channel))

    async def _serve(self, channel: grpc.aio.Channel) -> None:
        call = AgentServiceStub(channel).Connect(self._messages())
        self._call = call
        heartbeats: asyncio.Task[None] | None = None
        try:
            async for message in call:
                kind = message.WhichOneof("message")
                if kind == "welcome":
                    interval = message.welcome.heartbeat_interval_seconds or 1.0
                    heartbeats = asyncio.create_task(self._heartbeat(interval))
                    self.welcomed.set()
                elif kind == "assignments":
                    names = {a.name for a in message.assignments.pipelines}
                    added = names - self.assigned
                    self.assigned = names
                    self._on_change(self)
                    if self._report_states:
                        for assignment in message.assignments.pipelines:
                            if assignment.name in added:
                                state = agent_pb2.PipelineState(
                                    name=assignment.name,
                                    generation=assignment.generation,
                                    phase="Running",
                                )
                                self._outbox.put_nowait(
                                    agent_pb2.AgentMessage(pipeline_state=state)
                                )
                elif kind == "command":
                    ack = agent_pb2.Ack(command_id=message.command.id, error="bench agent")
                    self._outbox.put_nowait(agent_pb2.AgentMessage(ack=ack))
        except grpc.aio.AioRpcError as exc:
            if exc.code() != grpc.StatusCode.CANCELLED:
                self.error = f"{exc.code().name}: {exc.details()}"
        finally:
            if heartbeats is not None:
                heartbeats.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await heartbeats

    async def _heartbeat(self, interval: float) -> None:
        seq = 0
        while True:
            await asyncio.sleep(interval)
            seq += 1
            sent_at = Timestamp()
            sent_at.GetCurrentTime()
            self._outbox.put_nowait(
                agent_pb2.AgentMessage(heartbeat=agent_pb2.Heartbeat(seq=seq, sent_at=sent_at))
            )

    async def kill(self) -> None:
        """Drop the stream without a Goodbye, like a crashed host."""
        if self._call is not None:
            self._call.cancel()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.assigned = set()
        self._on_change(self)


class SimFleet:
    """Many SimAgents over a few channels, with a running count of assigned pipelines."""

    def __init__(self, address: str, agents_per_channel: int = 10) -> None:
        self.address = address
        self.agents_per_channel = agents_per_channel
        self.agents: list[SimAgent] = []
        self.channels: list[grpc.aio.Channel] = []
        self.assigned_total = 0
        self._counted: dict[str, int] = {}
        self._changed = asyncio.Event()

    def _on_change(self, agent: SimAgent) -> None:
        self.assigned_total += len(agent.assigned) - self._counted.get(agent.name, 0)
        self._counted[agent.name] = len(agent.assigned)
        self._changed.set()

    def add(
        self, name: str, labels: dict[str, str], capacity: int, *, report_states: bool = False
    ) -> SimAgent:
        """Connect one more agent."""
        if len(self.agents) % self.agents_per_channel == 0:
            self.channels.append(grpc.aio.insecure_channel(self.address, options=_CHANNEL_OPTIONS))
        agent = SimAgent(name, labels, capacity, self._on_change, report_states=report_states)
        agent.start(self.channels[-1])
        self.agents.append(agent)
        return agent

    async def wait_welcomed(self, within: float) -> None:
        """Return once every agent got its Welcome."""
        async with asyncio.timeout(within):
            for agent in self.agents:
                await agent.welcomed.wait()

    async def wait_assigned(self, total: int, within: float) -> bool:
        """Wait until live agents hold `total` pipelines between them; False on timeout."""
        try:
            async with asyncio.timeout(within):
                while self.assigned_total != total:
                    self._changed.clear()
                    await self._changed.wait()
        except TimeoutError:
            return False
        return True

    def errors(self) -> list[str]:
        """Streams that ended with an error other than our own cancel."""
        return [f"{a.name}: {a.error}" for a in self.agents if a.error]

    async def close(self) -> None:
        """Drop every stream and close the channels."""
        await asyncio.gather(*(agent.kill() for agent in self.agents), return_exceptions=True)
        for channel in self.channels:
            await channel.close()
