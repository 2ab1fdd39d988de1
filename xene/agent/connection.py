"""The agent's one stream to the apiserver: register, heartbeat, converge, reconnect, fence.

This is the only module of the agent that sees protocol buffers: it translates the stream's
messages to and from the plain types of `xene.agent.contract` (commands, reports, run requests)
and `xene.agent.supervisor` (assignments), which the rest of the agent works on.

Fencing: the server renews the agent's liveness lease on each heartbeat it acknowledges, so the
lease certainly lives until TTL after the *sending* of the last acknowledged heartbeat. Past that
moment the server may have declared the agent dead and moved its pipelines, so the agent stops
them; on reconnect the server sends the full desired set and the agent converges to it. A
returning agent therefore never runs a pipeline that moved.

Runs are not fenced: an attempt in progress keeps running and reporting when the lease may have
expired. The server ignores reports of an attempt that is no longer current, and the agent's
next Hello lists the attempts it runs, so the server either keeps each one or sends CancelRun
for it. Stopping them here instead would turn every short network cut into failed or repeated
runs, while only the server knows whether an attempt was really handed on.

Run reports (RunUpdate, LogChunk) go out from the outbox in seq order, at most REPORT_WINDOW
unacknowledged at a time; after a reconnect every unacknowledged one is sent again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import grpc
from google.protobuf.message import DecodeError
from google.protobuf.timestamp_pb2 import Timestamp
from pydantic import ValidationError

from xene import __version__
from xene.agent.contract import (
    CancelRun,
    Command,
    CommandHandler,
    CreateRunResult,
    LogChunk,
    Report,
    RunUpdate,
    StartRun,
)
from xene.agent.runs.outbox import Outbox
from xene.agent.settings import AgentSettings
from xene.agent.supervisor import AssignedPipeline, PipelineState, PipelineSupervisor
from xene.api.errors import Unavailable
from xene.api.pipeline import Pipeline
from xene.api.plan import RunPlan
from xene.api.run import PipelineRun
from xene.backoff import Backoff
from xene.proto.xene.v1 import agent_pb2

log = logging.getLogger(__name__)

GOODBYE_GRACE_SECONDS = 5.0
DUPLICATE_NAME_RETRY_SECONDS = 30.0
# Without a Welcome this long after dialling, the attempt counts as failed.
WELCOME_TIMEOUT_SECONDS = 15.0
_HEARTBEATS_REMEMBERED = 64
# Run reports sent and not yet acknowledged, at most: the server's pace limits the agent's.
REPORT_WINDOW = 256
DEFAULT_REQUEST_TIMEOUT = 10.0

_CHANNEL_OPTIONS = [
    ("grpc.keepalive_time_ms", 10_000),
    ("grpc.keepalive_timeout_ms", 5_000),
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1_000),
    ("grpc.max_receive_message_length", 64 * 1024 * 1024),
]

CONNECT_METHOD = "/xene.v1.AgentService/Connect"

ActiveRuns = Callable[[], Iterable[tuple[str, int]]]
"""The (run, attempt) pairs the agent executes or still reports on, for Hello.runs."""


def refuse_commands(command: Command) -> str | None:
    """The default command handler: this agent runs no runs yet."""
    kind = type(command).__name__
    log.warning("server sent command %s (%s), which this agent does not handle", command.id, kind)
    return f"this agent does not handle {kind} commands"


# -- translation between the stream's messages and the contract's types ------------------------


def decode_command(message: agent_pb2.Command) -> Command | str:
    """A Command as the contract's type, or why the agent cannot take it (the Ack's error)."""
    kind = message.WhichOneof("command")
    if kind == "cancel_run":
        cancel = message.cancel_run
        return CancelRun(message.id, cancel.run, int(cancel.attempt), cancel.reason or "cancelled")
    if kind != "start_run":
        return f"this agent does not handle {kind or 'unknown'} commands"
    start = message.start_run
    if not start.pipeline_json:
        return f"StartRun of run '{start.run}' carries no pipeline"
    try:
        return StartRun(
            id=message.id,
            run=PipelineRun.model_validate_json(start.run_json),
            attempt=int(start.attempt) or 1,
            pipeline=Pipeline.model_validate_json(start.pipeline_json),
            plan=RunPlan.model_validate_json(start.plan_json) if start.plan_json else None,
        )
    except (ValidationError, ValueError) as exc:
        return f"the server sent a run this agent cannot read: {exc}"


def report_message(report: Report) -> agent_pb2.AgentMessage:
    """A RunUpdate or LogChunk as the AgentMessage that carries it."""
    if isinstance(report, RunUpdate):
        return agent_pb2.AgentMessage(
            run_update=agent_pb2.RunUpdate(
                run=report.run,
                attempt=report.attempt,
                seq=report.seq,
                status_json=report.status_json,
                events_json=report.events_json,
            )
        )
    return agent_pb2.AgentMessage(
        log_chunk=agent_pb2.LogChunk(
            run=report.run,
            attempt=report.attempt,
            seq=report.seq,
            task=report.task,
            step=report.step,
            streams=report.streams,
            lines=report.lines,
            times=report.times,
            truncated=report.truncated,
        )
    )


class WireReportCodec:
    """Reports as the bytes of the AgentMessage that carries them: what the outbox keeps (on disk
    too) and what the stream sends without encoding them again."""

    def encode(self, report: Report) -> bytes:
        """The AgentMessage bytes of `report`."""
        return report_message(report).SerializeToString()

    def decode(self, data: bytes) -> Report:
        """The report in AgentMessage bytes; ValueError when they hold none."""
        try:
            message = agent_pb2.AgentMessage.FromString(data)
        except DecodeError as exc:
            raise ValueError(f"not an agent message: {exc}") from None
        kind = message.WhichOneof("message")
        if kind == "run_update":
            update = message.run_update
            return RunUpdate(
                update.run, update.attempt, update.seq, update.status_json, update.events_json
            )
        if kind == "log_chunk":
            chunk = message.log_chunk
            return LogChunk(
                chunk.run,
                chunk.attempt,
                chunk.seq,
                chunk.task,
                chunk.step,
                list(chunk.streams),
                list(chunk.lines),
                list(chunk.times),
                chunk.truncated,
            )
        raise ValueError(f"the outbox holds run reports only, not {kind}")


REPORT_CODEC = WireReportCodec()
"""The codec the agent's outbox is created with."""


def create_run_result(response: agent_pb2.CreateRunResponse) -> CreateRunResult:
    """A CreateRunResponse as the contract's type."""
    return CreateRunResult(
        run=response.run or None,
        number=int(response.number),
        created=response.created,
        error=response.error or None,
        skipped=response.skipped or None,
    )


def _outgoing(message: agent_pb2.AgentMessage | bytes) -> bytes:
    # Reports are queued already encoded (see WireReportCodec); everything else as a message.
    return message if isinstance(message, bytes) else message.SerializeToString()


def decode_assignment(message: agent_pb2.Assignment) -> AssignedPipeline:
    """An Assignment as the supervisor's AssignedPipeline; unreadable objects carry a problem."""
    try:
        pipeline: Pipeline | None = Pipeline.model_validate_json(message.pipeline_json)
        problem = None
    except (ValidationError, ValueError) as exc:
        pipeline = None
        problem = f"the server sent a pipeline this agent cannot read: {exc}"
    return AssignedPipeline(
        name=message.name,
        uid=message.uid,
        generation=message.generation,
        pipeline=pipeline,
        problem=problem,
    )


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


@dataclass
class StreamQueue:
    """Messages waiting to go out on the current stream; None closes the agent's side."""

    queue: asyncio.Queue[agent_pb2.AgentMessage | bytes | None]

    def send(self, message: agent_pb2.AgentMessage | bytes) -> None:
        """Queue a message for the stream."""
        self.queue.put_nowait(message)

    def close(self) -> None:
        """End the agent's side of the stream once the queued messages are out."""
        self.queue.put_nowait(None)

    async def drain(self) -> AsyncIterator[agent_pb2.AgentMessage | bytes]:
        """The queued messages, in order, until the queue is closed."""
        while True:
            message = await self.queue.get()
            if message is None:
                return
            yield message


class ServerConnection:
    """Keeps one stream to the apiserver open for as long as the agent runs."""

    def __init__(
        self,
        settings: AgentSettings,
        supervisor: PipelineSupervisor,
        *,
        backoff: Backoff | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        command_handler: CommandHandler = refuse_commands,
        reports: Outbox | None = None,
        active_runs: ActiveRuns | None = None,
    ) -> None:
        self.settings = settings
        self.supervisor = supervisor
        self.backoff = backoff or Backoff()
        self.monotonic = monotonic
        self.command_handler = command_handler
        self.reports = reports
        self.active_runs = active_runs
        self.connected = asyncio.Event()
        self.server_identity: str | None = None
        self.lease_ttl = 0.0
        # Monotonic time until which the server certainly still holds our liveness lease.
        self.renewed_until: float | None = None
        self._stream: StreamQueue | None = None
        self._requests: dict[str, asyncio.Future[agent_pb2.CreateRunResponse]] = {}
        self._call: grpc.aio.StreamStreamCall | None = None
        self._call_ended_by: str | None = None
        self._heartbeat_sent: dict[int, float] = {}
        self._fence_changed = asyncio.Event()
        self._server_index = 0
        self._retry_after: float | None = None
        supervisor.state_listeners.append(self._report_state)

    @property
    def server(self) -> str:
        """The apiserver address dialled now (the agent rotates through --server's list)."""
        return self.settings.server[self._server_index % len(self.settings.server)]

    # -- the reconnect loop ---------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Connect and reconnect until `stop` is set; a clean goodbye on the way out."""
        log.info(
            "agent %s connecting to %s (capacity %d, labels %s)",
            self.settings.name,
            ", ".join(self.settings.server),
            self.settings.capacity,
            _format_labels(self.settings.labels),
        )
        async with asyncio.TaskGroup() as group:
            fence = group.create_task(self._fence_loop())
            try:
                while not stop.is_set():
                    await self._attempt(stop)
                    if stop.is_set():
                        break
                    self._server_index += 1  # the next replica, if several were given
                    delay = self._retry_after or self.backoff.next_delay()
                    self._retry_after = None
                    log.info("reconnecting to %s in %.1fs", self.server, delay)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), timeout=delay)
            finally:
                fence.cancel()
        log.info("agent %s disconnected", self.settings.name)

    async def _attempt(self, stop: asyncio.Event) -> None:
        """One stream from dial to end; logs why it ended and never raises for the server."""
        was_connected = False
        try:
            was_connected = await self._session(stop)
        except grpc.aio.AioRpcError as error:
            was_connected = self.connected.is_set()
            self._log_rpc_error(error)
        except (OSError, ValueError) as exc:
            log.error("cannot connect to %s: %s", self.server, exc)
        finally:
            self.connected.clear()
            self._stream = None
            self._call = None
            self._fail_requests("the connection to the apiserver was lost")
        if was_connected and not stop.is_set():
            log.warning("disconnected from apiserver %s", self.server_identity or "")

    def _log_rpc_error(self, error: grpc.aio.AioRpcError) -> None:
        code, details = error.code(), error.details() or ""
        if code == grpc.StatusCode.UNAUTHENTICATED:
            log.error(
                "the server at %s refused this agent (UNAUTHENTICATED): %s; "
                "check --token / XENE_AGENT_TOKEN against the apiserver's --agent-token",
                self.server,
                details,
            )
        elif code == grpc.StatusCode.ALREADY_EXISTS:
            self.supervisor.stop_all("another connection took over this agent's name")
            self.renewed_until = None
            log.error(
                "the server closed this stream: %s (is another xene-agent running with --name %s?)",
                details,
                self.settings.name,
            )
            # Two agents of one name taking the stream from each other would start and stop
            # their pipelines on every turn: the one pushed out waits long before trying again.
            self._retry_after = DUPLICATE_NAME_RETRY_SECONDS
        elif code == grpc.StatusCode.INVALID_ARGUMENT:
            log.error("the server refused this agent's registration: %s", details)
        elif code == grpc.StatusCode.UNAVAILABLE:
            log.warning("apiserver at %s is unavailable: %s", self.server, details)
        elif code == grpc.StatusCode.CANCELLED:
            log.info("stream to %s cancelled", self.server)
        else:
            log.error("stream to %s failed: %s: %s", self.server, code.name, details)

    # -- one session ----------------------------------------------------------------------

    def _channel(self) -> grpc.aio.Channel:
        if self.settings.tls_ca is not None:
            credentials = grpc.ssl_channel_credentials(
                root_certificates=self.settings.tls_ca.read_bytes()
            )
            return grpc.aio.secure_channel(self.server, credentials, _CHANNEL_OPTIONS)
        return grpc.aio.insecure_channel(self.server, _CHANNEL_OPTIONS)

    def _metadata(self) -> tuple[tuple[str, str], ...]:
        token = self.settings.token.get_secret_value()
        return (("authorization", f"Bearer {token}"),) if token else ()

    def _hello(self) -> agent_pb2.Hello:
        return agent_pb2.Hello(
            name=self.settings.name,
            labels=self.settings.labels,
            capacity=self.settings.capacity,
            version=__version__,
            hostname=socket.gethostname(),
            executors=self.settings.executors,
            parallelism=self.settings.parallelism,
            pipelines=[
                agent_pb2.PipelineRef(name=a.name, generation=a.generation, uid=a.uid)
                for a in self.supervisor.assigned
            ],
            runs=[
                agent_pb2.RunRef(run=run, attempt=attempt)
                for run, attempt in (self.active_runs() if self.active_runs else ())
            ],
        )

    async def _session(self, stop: asyncio.Event) -> bool:
        """Run one stream; True if the server welcomed us. Raises AioRpcError on RPC failure."""
        stream = StreamQueue(asyncio.Queue())
        welcomed = False
        async with self._channel() as channel:
            hello_sent = self.monotonic()
            stream.send(agent_pb2.AgentMessage(hello=self._hello()))
            connect = channel.stream_stream(
                CONNECT_METHOD,
                request_serializer=_outgoing,
                response_deserializer=agent_pb2.ServerMessage.FromString,
            )
            call = connect(stream.drain(), metadata=self._metadata())
            self._call, self._call_ended_by = call, None
            helpers = [
                asyncio.create_task(self._goodbye_on_stop(stop, stream)),
                asyncio.create_task(self._expect_welcome()),
            ]
            try:
                async for message in call:
                    kind = message.WhichOneof("message")
                    if kind == "welcome":
                        welcomed = True
                        helpers.append(self._welcomed(message.welcome, hello_sent, stream))
                    elif kind == "assignments":
                        self._assign(message.assignments)
                    elif kind == "heartbeat_ack":
                        self._acknowledged(message.heartbeat_ack.seq)
                    elif kind == "command":
                        error = self._handle_command(message.command)
                        ack = agent_pb2.Ack(command_id=message.command.id, error=error or "")
                        stream.send(agent_pb2.AgentMessage(ack=ack))
                    elif kind == "report_ack":
                        if self.reports is not None:
                            self.reports.ack(message.report_ack.seqs)
                    elif kind == "create_run":
                        self._answered(message.create_run)
                if not stop.is_set():
                    log.warning("the server ended the stream")
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if self._call_ended_by is None or (task is not None and task.cancelling()):
                    raise
                # We cancelled the call ourselves (fenced, no welcome, goodbye unanswered).
                log.warning("closed the stream: %s", self._call_ended_by)
            finally:
                for helper in helpers:
                    helper.cancel()
                await asyncio.gather(*helpers, return_exceptions=True)
                call.cancel()
                # A call the server ended is not cancelled by cancel(), and its task reading
                # our messages would wait on this queue for good: end the queue instead.
                stream.close()
        return welcomed

    def _end_call(self, reason: str) -> None:
        call = self._call
        if call is not None and self._call_ended_by is None:
            self._call_ended_by = reason
            call.cancel()

    def _welcomed(
        self, welcome: agent_pb2.Welcome, hello_sent: float, stream: StreamQueue
    ) -> asyncio.Task[None]:
        self.server_identity = welcome.server
        self.lease_ttl = welcome.lease_ttl_seconds
        # The server granted the lease after our Hello left, so it lives at least this long.
        self._extend_lease(hello_sent + welcome.lease_ttl_seconds)
        self._heartbeat_sent.clear()
        self._stream = stream
        self.backoff.reset()
        self.connected.set()
        log.info(
            "connected to apiserver %s as agent %s (session %s, heartbeat every %.1fs, lease TTL "
            "%.0fs)",
            welcome.server,
            welcome.agent_name,
            welcome.session,
            welcome.heartbeat_interval_seconds,
            welcome.lease_ttl_seconds,
        )
        for state in self.supervisor.states():
            self._report_state(state)
        interval = max(welcome.heartbeat_interval_seconds, 0.05)
        return asyncio.create_task(self._welcomed_loops(interval, stream))

    async def _welcomed_loops(self, interval: float, stream: StreamQueue) -> None:
        async with asyncio.TaskGroup() as group:
            group.create_task(self._heartbeats(interval, stream))
            if self.reports is not None:
                group.create_task(self._send_reports(self.reports, stream))

    async def _send_reports(self, reports: Outbox, stream: StreamQueue) -> None:
        """Send unacknowledged reports in seq order, keeping at most REPORT_WINDOW in flight.

        A new stream starts from the beginning: whatever the last one carried without an
        acknowledgement may never have been stored.
        """
        sent = 0
        while True:
            room = REPORT_WINDOW - reports.unacked_through(sent)
            batch = reports.after(sent, room)
            for report in batch:
                stream.send(report.data)
                sent = report.seq
            if not batch:
                await reports.wait_changed()

    def _assign(self, assignments: agent_pb2.Assignments) -> None:
        desired = [decode_assignment(item) for item in assignments.pipelines]
        names = ", ".join(f"{a.name}@{a.generation}" for a in desired) or "none"
        log.info("assignments from the server: %d pipeline(s): %s", len(desired), names)
        self.supervisor.converge(desired)

    async def _heartbeats(self, interval: float, stream: StreamQueue) -> None:
        seq = 0
        while True:
            await asyncio.sleep(interval)
            seq += 1
            self._heartbeat_sent[seq] = self.monotonic()
            self._heartbeat_sent.pop(seq - _HEARTBEATS_REMEMBERED, None)
            sent_at = Timestamp()
            sent_at.GetCurrentTime()
            stream.send(
                agent_pb2.AgentMessage(heartbeat=agent_pb2.Heartbeat(seq=seq, sent_at=sent_at))
            )

    def _acknowledged(self, seq: int) -> None:
        sent = self._heartbeat_sent.pop(seq, None)
        if sent is not None:
            self._extend_lease(sent + self.lease_ttl)

    def _extend_lease(self, until: float) -> None:
        if self.renewed_until is None or until > self.renewed_until:
            self.renewed_until = until
            self._fence_changed.set()

    async def _goodbye_on_stop(self, stop: asyncio.Event, stream: StreamQueue) -> None:
        await stop.wait()
        log.info("shutting down: saying goodbye to the server")
        stream.send(agent_pb2.AgentMessage(goodbye=agent_pb2.Goodbye(reason="agent stopping")))
        stream.close()
        # The server ends the stream once it has released the agent; don't wait forever.
        await asyncio.sleep(GOODBYE_GRACE_SECONDS)
        self._end_call(f"the server did not end the stream within {GOODBYE_GRACE_SECONDS:g}s")

    async def _expect_welcome(self) -> None:
        await asyncio.sleep(WELCOME_TIMEOUT_SECONDS)
        if not self.connected.is_set():
            self._end_call(f"no welcome from the server within {WELCOME_TIMEOUT_SECONDS:g}s")

    def _report_state(self, state: PipelineState) -> None:
        stream = self._stream
        if stream is None:
            return  # re-reported after the next Welcome
        stream.send(
            agent_pb2.AgentMessage(
                pipeline_state=agent_pb2.PipelineState(
                    name=state.name,
                    generation=state.generation,
                    phase=str(state.phase),
                    message=state.message,
                )
            )
        )

    # -- commands and requests ------------------------------------------------------------

    def _handle_command(self, message: agent_pb2.Command) -> str | None:
        command = decode_command(message)
        if isinstance(command, str):
            log.warning("refused command %s: %s", message.id, command)
            return command
        try:
            return self.command_handler(command)
        except Exception as exc:
            log.exception("handling command %s failed", message.id)
            return f"the agent failed to handle the command: {exc}"

    async def create_run(
        self,
        pipeline: str,
        *,
        trigger: dict[str, Any],
        parameters: dict[str, str] | None = None,
        env: dict[str, str] | None = None,
        dedup_key: str = "",
        concurrency_policy: str = "Allow",
        timeout: float = DEFAULT_REQUEST_TIMEOUT,  # noqa: ASYNC109 - a per-request deadline
    ) -> CreateRunResult:
        """Ask the server to create a run of `pipeline` (cron ticks); what it answered.

        The answer's `error` or `skipped` say when no run was created. Raises Unavailable when
        the agent is not connected, the connection drops, or no answer comes within `timeout`.
        """
        stream = self._stream
        if stream is None or not self.connected.is_set():
            raise Unavailable(f"cannot create a run of {pipeline}: not connected to the apiserver")
        request_id = uuid.uuid4().hex
        answer: asyncio.Future[agent_pb2.CreateRunResponse] = (
            asyncio.get_running_loop().create_future()
        )
        self._requests[request_id] = answer
        try:
            stream.send(
                agent_pb2.AgentMessage(
                    create_run=agent_pb2.CreateRunRequest(
                        request_id=request_id,
                        pipeline=pipeline,
                        trigger_json=json.dumps(trigger, default=_json_default).encode(),
                        parameters=parameters or {},
                        env=env or {},
                        dedup_key=dedup_key,
                        concurrency_policy=concurrency_policy,
                    )
                )
            )
            try:
                async with asyncio.timeout(timeout):
                    return create_run_result(await answer)
            except TimeoutError:
                raise Unavailable(
                    f"cannot create a run of {pipeline}: no answer from the apiserver within "
                    f"{timeout:g}s"
                ) from None
        finally:
            self._requests.pop(request_id, None)

    def _answered(self, response: agent_pb2.CreateRunResponse) -> None:
        answer = self._requests.get(response.request_id)
        if answer is not None and not answer.done():
            answer.set_result(response)

    def _fail_requests(self, reason: str) -> None:
        for answer in self._requests.values():
            if not answer.done():
                answer.set_exception(Unavailable(reason))

    async def report_trigger_state(self, trigger: str, status: dict[str, Any]) -> None:
        """Tell the server what the agent observed of `trigger` (best effort: dropped when
        not connected; the next observation replaces it anyway)."""
        stream = self._stream
        if stream is None or not self.connected.is_set():
            return
        stream.send(
            agent_pb2.AgentMessage(
                trigger_state=agent_pb2.TriggerState(
                    trigger=trigger,
                    status_json=json.dumps(status, default=_json_default).encode(),
                )
            )
        )

    async def drain_reports(self, seconds: float) -> bool:
        """Wait until the server acknowledged every report (at shutdown); False after
        `seconds` or when not connected (the outbox keeps them on disk for the next start)."""
        if self.reports is None or not len(self.reports):
            return True
        if not self.connected.is_set():
            return False
        return await self.reports.wait_empty(seconds)

    # -- fencing --------------------------------------------------------------------------

    def _fenced_now(self) -> bool:
        return self.renewed_until is not None and self.monotonic() >= self.renewed_until

    def check_fence(self) -> bool:
        """Stop every pipeline once the lease may have expired; True if it did so just now."""
        if not self._fenced_now():
            return False
        self.renewed_until = None
        reason = f"no heartbeat acknowledged by the server for the lease TTL ({self.lease_ttl:g}s)"
        self.supervisor.stop_all(f"{reason}: the server may have given them to other agents")
        # A stream that looks open but stopped acknowledging is ended: a fresh Hello gets a
        # fresh lease and the full desired set again.
        self._end_call(reason)
        return True

    async def _fence_loop(self) -> None:
        while True:
            self.check_fence()
            self._fence_changed.clear()
            wait = 1.0
            if self.renewed_until is not None:
                wait = max(0.0, min(wait, self.renewed_until - self.monotonic()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._fence_changed.wait(), timeout=wait + 0.01)


def _format_labels(labels: dict[str, str]) -> str:
    return "{" + ", ".join(f"{k}: {v}" for k, v in sorted(labels.items())) + "}"
