"""The AgentService servicer: translates stream messages to AgentService calls and back."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import grpc

from xene.api.errors import Conflict, Invalid, NotFound, Unavailable, XeneError
from xene.apiserver.grpc.errors import grpc_code_of
from xene.apiserver.services.agents import (
    AgentCommand,
    AgentHello,
    AgentService,
    AgentSession,
    PipelineAssignment,
)
from xene.apiserver.services.run_reports import (
    LogChunkReport,
    RunReportService,
    RunRequest,
    RunUpdateReport,
)
from xene.apiserver.services.runs import CreatedRun
from xene.backoff import Backoff
from xene.proto.xene.v1 import agent_pb2, agent_pb2_grpc

log = logging.getLogger(__name__)

HELLO_TIMEOUT_SECONDS = 10.0
# Tries of a run report while etcd is unavailable, before the stream is ended.
REPORT_ATTEMPTS = 4
_REPORT_BACKOFF = Backoff(0.1, 1.0)

R = TypeVar("R")


def hello_from_proto(message: agent_pb2.Hello) -> AgentHello:
    """The service's view of a Hello."""
    return AgentHello(
        name=message.name,
        labels=dict(message.labels),
        capacity=message.capacity,
        version=message.version,
        hostname=message.hostname,
        executors=list(message.executors),
        parallelism=message.parallelism,
        pipelines=[(ref.name, ref.generation) for ref in message.pipelines],
        runs=[(ref.run, ref.attempt) for ref in message.runs],
    )


def assignments_to_proto(assignments: list[PipelineAssignment]) -> agent_pb2.ServerMessage:
    """The full desired set as one Assignments message."""
    return agent_pb2.ServerMessage(
        assignments=agent_pb2.Assignments(
            pipelines=[
                agent_pb2.Assignment(
                    name=a.name, generation=a.generation, uid=a.uid, pipeline_json=a.pipeline_json
                )
                for a in assignments
            ]
        )
    )


def command_to_proto(command: AgentCommand) -> agent_pb2.ServerMessage:
    """A stored command as the Command message the agent receives."""
    message = agent_pb2.Command(id=command.id)
    payload = command.payload
    attempt = int(payload.get("attempt", 0) or 0)
    if command.kind == "StartRun":
        # Commands of the run dispatcher carry the run, pipeline and plan; older ones less.
        run = payload["run"] if "run" in payload else payload
        pipeline = payload.get("pipeline")
        plan = payload.get("plan")
        message.start_run.CopyFrom(
            agent_pb2.StartRun(
                run=command.run,
                run_json=_compact(run),
                attempt=attempt,
                pipeline_json=_compact(pipeline) if pipeline is not None else b"",
                plan_json=_compact(plan) if plan is not None else b"",
            )
        )
    else:
        reason = str(payload.get("reason", ""))
        message.cancel_run.CopyFrom(
            agent_pb2.CancelRun(run=command.run, reason=reason, attempt=attempt)
        )
    return agent_pb2.ServerMessage(command=message)


def _compact(data: Any) -> bytes:
    return json.dumps(data, separators=(",", ":")).encode()


def run_update_from_proto(message: agent_pb2.RunUpdate) -> RunUpdateReport:
    """The service's view of a RunUpdate."""
    return RunUpdateReport(
        run=message.run,
        attempt=message.attempt,
        seq=message.seq,
        status_json=message.status_json,
        events_json=message.events_json,
    )


def log_chunk_from_proto(message: agent_pb2.LogChunk) -> LogChunkReport:
    """The service's view of a LogChunk."""
    return LogChunkReport(
        run=message.run,
        attempt=message.attempt,
        seq=message.seq,
        task=message.task,
        step=message.step,
        streams=list(message.streams),
        lines=list(message.lines),
        times=list(message.times),
        truncated=message.truncated,
    )


def run_request_from_proto(message: agent_pb2.CreateRunRequest) -> RunRequest:
    """The service's view of a CreateRunRequest."""
    return RunRequest(
        pipeline=message.pipeline,
        trigger_json=message.trigger_json,
        parameters=dict(message.parameters),
        env=dict(message.env),
        dedup_key=message.dedup_key,
        concurrency_policy=message.concurrency_policy,
    )


def created_run_to_proto(request_id: str, created: CreatedRun) -> agent_pb2.ServerMessage:
    """A CreateRunResponse for what create_run did."""
    run = created.run
    return agent_pb2.ServerMessage(
        create_run=agent_pb2.CreateRunResponse(
            request_id=request_id,
            run=run.metadata.name if run is not None else "",
            number=run.spec.number if run is not None else 0,
            created=created.created,
            skipped=created.skipped or "",
        )
    )


def bearer_token(metadata: tuple[tuple[str, str | bytes], ...] | None) -> str | None:
    """The token of an `authorization: Bearer <token>` metadata entry, if any."""
    for key, value in metadata or ():
        if key.lower() == "authorization":
            text = value.decode() if isinstance(value, bytes) else value
            scheme, _, token = text.partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
    return None


class AgentServicer(agent_pb2_grpc.AgentServiceServicer):
    """One Connect call per agent: Hello, then heartbeats, acks and states in; the rest out."""

    def __init__(self, agents: AgentService, reports: RunReportService | None = None) -> None:
        self.agents = agents
        self.reports = reports

    async def Connect(
        self,
        request_iterator: AsyncIterator[agent_pb2.AgentMessage],
        context: grpc.aio.ServicerContext,
    ) -> None:
        """Serve one agent's stream until it says goodbye, drops, or is replaced."""
        peer = context.peer()
        requests = aiter(request_iterator)
        try:
            first = await asyncio.wait_for(anext(requests), HELLO_TIMEOUT_SECONDS)
        except StopAsyncIteration:
            return
        except TimeoutError:
            log.warning(
                "agent stream from %s sent no Hello within %.0fs", peer, HELLO_TIMEOUT_SECONDS
            )
            await context.abort(grpc.StatusCode.DEADLINE_EXCEEDED, "no Hello received in time")
            return
        if first.WhichOneof("message") != "hello":
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT, "the first message of a stream must be Hello"
            )
            return
        hello = hello_from_proto(first.hello)
        try:
            self.agents.authenticate(bearer_token(context.invocation_metadata()), hello.name)
            session = await self.agents.connect(hello, peer)
        except XeneError as exc:
            log.warning(
                "refused agent stream from %s (agent '%s'): %s", peer, hello.name, exc.message
            )
            await context.abort(grpc_code_of(exc), exc.message)
            return
        if self.reports is not None:
            # Before any command is delivered on this stream, so the Hello's list of runs
            # and the queued commands describe the same moment.
            try:
                await self.reports.agent_connected(session.agent, hello.runs)
            except BaseException:
                await session.close(goodbye=False)
                raise
        await self._serve(session, requests, context)

    async def _serve(
        self,
        session: AgentSession,
        requests: AsyncIterator[agent_pb2.AgentMessage],
        context: grpc.aio.ServicerContext,
    ) -> None:
        outbound: asyncio.Queue[agent_pb2.ServerMessage] = asyncio.Queue()
        outbound.put_nowait(
            agent_pb2.ServerMessage(
                welcome=agent_pb2.Welcome(
                    agent_name=session.agent,
                    server=self.agents.identity,
                    heartbeat_interval_seconds=self.agents.heartbeat_interval_seconds,
                    lease_ttl_seconds=float(self.agents.lease_ttl_seconds),
                    session=session.id,
                )
            )
        )
        goodbye = False
        failure: BaseException | None = None
        helpers = [
            asyncio.create_task(self._write(outbound, context)),
            asyncio.create_task(self._push_assignments(session, outbound)),
            asyncio.create_task(self._push_commands(session, outbound)),
        ]
        reader = asyncio.create_task(self._read(session, requests, outbound))
        ended = asyncio.create_task(session.ended.wait())
        try:
            done, _ = await asyncio.wait(
                {reader, ended, *helpers}, return_when=asyncio.FIRST_COMPLETED
            )
            for task in done:
                if task is reader:
                    goodbye = reader.result()
                elif task is not ended and not task.cancelled():
                    failure = task.exception()
        finally:
            for task in (reader, ended, *helpers):
                task.cancel()
            await asyncio.gather(reader, ended, *helpers, return_exceptions=True)
            await session.close(goodbye=goodbye)
        if session.end_reason is not None:
            reason = session.end_reason
            await context.abort(grpc_code_of(reason), reason.message)
        elif failure is not None:
            if isinstance(failure, XeneError):
                await context.abort(grpc_code_of(failure), failure.message)
            log.error("agent %s stream failed", session.agent, exc_info=failure)
            await context.abort(grpc.StatusCode.INTERNAL, "internal error; see the server log")

    async def _read(
        self,
        session: AgentSession,
        requests: AsyncIterator[agent_pb2.AgentMessage],
        outbound: asyncio.Queue[agent_pb2.ServerMessage],
    ) -> bool:
        """Handle the agent's messages; True when it said goodbye."""
        async for message in requests:
            kind = message.WhichOneof("message")
            try:
                if kind == "heartbeat":
                    if await session.heartbeat():
                        ack = agent_pb2.HeartbeatAck(seq=message.heartbeat.seq)
                        outbound.put_nowait(agent_pb2.ServerMessage(heartbeat_ack=ack))
                elif kind == "ack":
                    if message.ack.error and self.reports is not None:
                        await self.reports.command_refused(
                            session.agent, message.ack.command_id, message.ack.error
                        )
                    await session.acknowledge(message.ack.command_id, message.ack.error)
                elif kind == "pipeline_state":
                    state = message.pipeline_state
                    await session.record_pipeline_state(
                        state.name, state.generation, state.phase, state.message
                    )
                elif kind == "goodbye":
                    log.info(
                        "agent %s says goodbye: %s",
                        session.agent,
                        message.goodbye.reason or "no reason given",
                    )
                    return True
                elif kind in ("run_update", "log_chunk", "create_run", "trigger_state"):
                    await self._handle_run_message(session, message, outbound)
                elif kind == "hello":
                    log.warning("agent %s sent a second Hello; ignored", session.agent)
                else:
                    log.debug("agent %s sent %s, which this server ignores", session.agent, kind)
            except XeneError as exc:
                log.warning("agent %s: handling %s failed: %s", session.agent, kind, exc)
        return False

    async def _handle_run_message(
        self,
        session: AgentSession,
        message: agent_pb2.AgentMessage,
        outbound: asyncio.Queue[agent_pb2.ServerMessage],
    ) -> None:
        kind = message.WhichOneof("message")
        reports = self.reports
        if reports is None:
            log.debug("agent %s sent %s, but runs are not served here", session.agent, kind)
            return
        agent = session.agent
        if kind == "create_run":
            request = message.create_run
            try:
                created = await self._retrying(
                    session, lambda: reports.create_run(agent, run_request_from_proto(request))
                )
            except XeneError as exc:
                error = agent_pb2.CreateRunResponse(
                    request_id=request.request_id, error=exc.message
                )
                outbound.put_nowait(agent_pb2.ServerMessage(create_run=error))
                return
            outbound.put_nowait(created_run_to_proto(request.request_id, created))
            return
        if kind == "trigger_state":
            state = message.trigger_state
            await reports.record_trigger_state(agent, state.trigger, state.status_json)
            return
        if kind == "run_update":
            update = run_update_from_proto(message.run_update)
            seq = update.seq

            async def store() -> None:
                await reports.apply_update(agent, update)

        else:
            chunk = log_chunk_from_proto(message.log_chunk)
            seq = chunk.seq

            async def store() -> None:
                await reports.append_log(agent, chunk)

        try:
            await self._retrying(session, store)
        except (Invalid, NotFound) as exc:
            # A report that can never be stored is dropped; the agent must not replay it forever.
            log.warning("agent %s: %s report %d dropped: %s", agent, kind, seq, exc)
        outbound.put_nowait(agent_pb2.ServerMessage(report_ack=agent_pb2.ReportAck(seqs=[seq])))

    async def _retrying(self, session: AgentSession, call: Callable[[], Awaitable[R]]) -> R:
        """`call()`, retried briefly while etcd is unavailable; then the stream is ended so the
        agent replays its unacknowledged reports on a new one."""
        for attempt in range(REPORT_ATTEMPTS):
            try:
                return await call()
            except (Unavailable, Conflict) as exc:
                if attempt == REPORT_ATTEMPTS - 1:
                    session.end(Unavailable(f"cannot store run reports now: {exc.message}"))
                    raise
                await asyncio.sleep(_REPORT_BACKOFF.delay(attempt))
        raise AssertionError("unreachable")

    async def _write(
        self, outbound: asyncio.Queue[agent_pb2.ServerMessage], context: grpc.aio.ServicerContext
    ) -> None:
        # The only writer of the stream: gRPC allows one write in flight at a time.
        while True:
            await context.write(await outbound.get())

    async def _push_assignments(
        self, session: AgentSession, outbound: asyncio.Queue[agent_pb2.ServerMessage]
    ) -> None:
        async for assignments in session.assignments():
            names = ", ".join(f"{a.name}@{a.generation}" for a in assignments) or "none"
            log.info("agent %s assignments: %s", session.agent, names)
            outbound.put_nowait(assignments_to_proto(assignments))

    async def _push_commands(
        self, session: AgentSession, outbound: asyncio.Queue[agent_pb2.ServerMessage]
    ) -> None:
        async for command in session.commands():
            outbound.put_nowait(command_to_proto(command))
