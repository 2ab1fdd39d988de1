"""A bare agent on the real gRPC stream, built from the generated stubs: sends what a test
says and keeps every server message, so tests see the protocol exactly."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import Any

import grpc

from xene.proto.xene.v1 import agent_pb2
from xene.proto.xene.v1.agent_pb2_grpc import AgentServiceStub


class StreamAgent:
    """One Connect stream; `received` holds the server's messages in order."""

    def __init__(self, address: str, name: str, token: str) -> None:
        self.address = address
        self.name = name
        self.token = token
        self.received: list[agent_pb2.ServerMessage] = []
        self._outgoing: asyncio.Queue[agent_pb2.AgentMessage | None] = asyncio.Queue()
        self._channel: grpc.aio.Channel | None = None
        self._reader: asyncio.Task[None] | None = None
        self._heartbeats: asyncio.Task[None] | None = None
        self.error: grpc.aio.AioRpcError | None = None

    async def connect(self, runs: list[tuple[str, int]] | None = None) -> StreamAgent:
        """Open the stream with a Hello listing `runs`, and heartbeat every 0.3s."""
        hello = agent_pb2.Hello(
            name=self.name,
            capacity=5,
            executors=["process"],
            runs=[agent_pb2.RunRef(run=r, attempt=a) for r, a in runs or []],
        )
        self._outgoing.put_nowait(agent_pb2.AgentMessage(hello=hello))
        self._channel = grpc.aio.insecure_channel(self.address)
        call = AgentServiceStub(self._channel).Connect(
            self._requests(), metadata=(("authorization", f"Bearer {self.token}"),)
        )
        self._reader = asyncio.create_task(self._read(call))
        self._heartbeats = asyncio.create_task(self._beat())
        return self

    async def _requests(self) -> Any:
        while True:
            message = await self._outgoing.get()
            if message is None:
                return
            yield message

    async def _read(self, call: Any) -> None:
        try:
            async for message in call:
                self.received.append(message)
        except grpc.aio.AioRpcError as error:
            self.error = error

    async def _beat(self) -> None:
        seq = 0
        while True:
            seq += 1
            self.send(agent_pb2.AgentMessage(heartbeat=agent_pb2.Heartbeat(seq=seq)))
            await asyncio.sleep(0.3)

    def send(self, message: agent_pb2.AgentMessage) -> None:
        """Queue a message on the stream."""
        self._outgoing.put_nowait(message)

    def ack(self, command_id: str, error: str = "") -> None:
        """Acknowledge (with `error`: refuse) a command."""
        self.send(agent_pb2.AgentMessage(ack=agent_pb2.Ack(command_id=command_id, error=error)))

    def run_update(
        self, run: str, attempt: int, seq: int, status: dict[str, Any], events: list[Any] = ()
    ) -> None:
        """Report a status snapshot of (run, attempt)."""
        update = agent_pb2.RunUpdate(
            run=run,
            attempt=attempt,
            seq=seq,
            status_json=json.dumps(status).encode(),
            events_json=json.dumps(list(events)).encode(),
        )
        self.send(agent_pb2.AgentMessage(run_update=update))

    def log_chunk(
        self, run: str, attempt: int, seq: int, task: str, step: str, *lines: str
    ) -> None:
        """Report output lines of one step."""
        chunk = agent_pb2.LogChunk(
            run=run,
            attempt=attempt,
            seq=seq,
            task=task,
            step=step,
            streams=["stdout"] * len(lines),
            lines=list(lines),
            times=[time.time()] * len(lines),
        )
        self.send(agent_pb2.AgentMessage(log_chunk=chunk))

    def commands(self, kind: str | None = None) -> list[agent_pb2.Command]:
        """Commands received so far (of one kind: start_run / cancel_run)."""
        return [
            m.command
            for m in self.received
            if m.WhichOneof("message") == "command"
            and (kind is None or m.command.WhichOneof("command") == kind)
        ]

    def acked_seqs(self) -> list[int]:
        """Every seq the server acknowledged with ReportAck."""
        return [
            seq
            for m in self.received
            if m.WhichOneof("message") == "report_ack"
            for seq in m.report_ack.seqs
        ]

    def responses(self) -> list[agent_pb2.CreateRunResponse]:
        """CreateRunResponses received."""
        return [m.create_run for m in self.received if m.WhichOneof("message") == "create_run"]

    async def close(self, *, goodbye: bool = False) -> None:
        """End the stream (a clean goodbye, or just drop it like a crash)."""
        if goodbye:
            self.send(agent_pb2.AgentMessage(goodbye=agent_pb2.Goodbye(reason="test")))
            await asyncio.sleep(0.1)
        self._outgoing.put_nowait(None)
        for task in (self._heartbeats, self._reader):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        if self._channel is not None:
            await self._channel.close()
