"""Agents' sessions: registration, liveness leases, assignments and commands.

What the gRPC AgentService calls. One `AgentSession` per open stream:
- on Hello the agent gets a fresh etcd lease (TTL `lease_ttl_seconds`) and the key
  `{prefix}/alive/agents/{name}` is written with it; each acknowledged heartbeat renews the
  lease. A stream that ends without a goodbye leaves the lease to expire, so an agent that
  reconnects within the TTL (to any replica) stays Ready; a goodbye revokes it at once.
- a newer session of the same agent name (on any replica) overwrites the key; the older one
  sees that through the ClusterView and ends (ALREADY_EXISTS).
- assignments are the pipelines the scheduler placed on the agent, sent whole whenever that
  set changes (level-triggered).
- commands are keys `{prefix}/commands/{agent}/{id}` that the replica holding the agent's
  stream delivers; the agent's Ack deletes them, so none is lost across restarts.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from xene.api.agent import Agent, AgentPhase, AgentSpec, AgentStatus
from xene.api.errors import (
    AlreadyExists,
    FieldError,
    Invalid,
    NotFound,
    Unauthenticated,
    Unavailable,
    XeneError,
)
from xene.api.meta import DNS1123_SUBDOMAIN, MAX_SUBDOMAIN_LENGTH, ObjectMeta, utc_now
from xene.api.pipeline import AgentPipelinePhase, Pipeline, SchedulePhase
from xene.apiserver.services.cluster_view import ClusterView, PipelineEntry, ViewChange

# AgentCommand is what the transport sends on: re-exported, since transports see services only.
from xene.store.commands import AgentCommand as AgentCommand
from xene.store.commands import CommandKind, QueuedCommand, new_command
from xene.store.informer import Change, Informer
from xene.store.liveness import AliveEntry
from xene.store.objects import ObjectStore

log = logging.getLogger(__name__)

# lastHeartbeat is written at most this often: heartbeats renew the lease, not the object.
HEARTBEAT_RECORD_SECONDS = 10.0
ASSIGNMENT_DEBOUNCE_SECONDS = 0.05
MAX_LABELS = 64
DELIVERED_IDS_KEPT = 4096


@dataclass(frozen=True)
class AgentHello:
    """An agent's registration, as received on its stream."""

    name: str
    labels: dict[str, str]
    capacity: int
    version: str = ""
    hostname: str = ""
    executors: list[str] = field(default_factory=list)
    parallelism: int = 0
    pipelines: list[tuple[str, int]] = field(default_factory=list)
    # The run attempts the agent executes now, as (run name, attempt number).
    runs: list[tuple[str, int]] = field(default_factory=list)


@dataclass(frozen=True)
class PipelineAssignment:
    """One pipeline of an agent's desired set, with the object as served by the REST API."""

    name: str
    uid: str
    generation: int
    pipeline_json: bytes


def load_agent_tokens(path: Path | None) -> dict[str, str]:
    """Per-agent tokens from a YAML mapping of agent name to token (none without a file)."""
    if path is None:
        return {}
    try:
        loaded = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise Invalid([FieldError("--agent-tokens-file", f"cannot read {path}: {exc}")]) from exc
    except yaml.YAMLError as exc:
        raise Invalid([FieldError("--agent-tokens-file", f"{path} is not YAML: {exc}")]) from exc
    if not isinstance(loaded, dict) or not all(
        isinstance(value, str) and value for value in loaded.values()
    ):
        raise Invalid([FieldError("--agent-tokens-file", f"{path} must map agent names to tokens")])
    return {str(name): token for name, token in loaded.items()}


def check_hello(hello: AgentHello) -> None:
    """Raise Invalid naming each field of a registration that is wrong."""
    problems: list[FieldError] = []
    if not hello.name:
        problems.append(FieldError("hello.name", "must not be empty"))
    elif len(hello.name) > MAX_SUBDOMAIN_LENGTH or not DNS1123_SUBDOMAIN.match(hello.name):
        problems.append(
            FieldError(
                "hello.name",
                f"'{hello.name}' is not a valid agent name: use lower-case letters, digits, "
                "'-' and '.', starting and ending with a letter or digit",
            )
        )
    if hello.capacity < 1:
        problems.append(FieldError("hello.capacity", f"must be at least 1 (got {hello.capacity})"))
    if len(hello.labels) > MAX_LABELS:
        problems.append(FieldError("hello.labels", f"at most {MAX_LABELS} labels"))
    for key, value in hello.labels.items():
        if not key or len(key) > 253 or len(value) > 63 or any(c.isspace() for c in key + value):
            problems.append(FieldError(f"hello.labels[{key!r}]", "not a valid label"))
    if problems:
        raise Invalid(problems)


class AgentService:
    """Opens and tracks agent sessions on this replica; routes commands to them."""

    def __init__(
        self,
        store: ObjectStore,
        view: ClusterView,
        *,
        identity: str,
        lease_ttl_seconds: int = 10,
        token: str = "",
        tokens: Mapping[str, str] | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.store = store
        self.view = view
        self.identity = identity
        self.lease_ttl_seconds = lease_ttl_seconds
        self.clock = clock
        self._token = token
        self._tokens = dict(tokens or {})
        self._sessions: dict[str, AgentSession] = {}
        self._command_cache = view.informers.commands()

    @property
    def heartbeat_interval_seconds(self) -> float:
        """How often agents are told to heartbeat: three chances per lease TTL."""
        return self.lease_ttl_seconds / 3

    @property
    def requires_token(self) -> bool:
        """False when the server was started without any agent token."""
        return bool(self._token or self._tokens)

    def sessions(self) -> list[AgentSession]:
        """The sessions open on this replica."""
        return list(self._sessions.values())

    def authenticate(self, token: str | None, agent: str) -> None:
        """Raise Unauthenticated unless `token` is the one expected from `agent`."""
        expected = self._tokens.get(agent) or self._token
        if not expected:
            if self._tokens:
                raise Unauthenticated(f"no token is configured for agent '{agent}'")
            return
        if not token:
            raise Unauthenticated(
                "missing agent token: start xene-agent with --token (or XENE_AGENT_TOKEN)"
            )
        if not hmac.compare_digest(token.encode(), expected.encode()):
            raise Unauthenticated(f"wrong token for agent '{agent}'")

    async def connect(self, hello: AgentHello, peer: str = "") -> AgentSession:
        """Register the agent, take its liveness lease, and open its session."""
        check_hello(hello)
        await self.view.wait_synced()
        lease = await self.store.liveness.grant(self.lease_ttl_seconds)
        session = AgentSession(self, hello, lease, peer)
        older = self._sessions.get(hello.name)
        self._sessions[hello.name] = session
        if older is not None:
            older.end(
                AlreadyExists(
                    f"agent '{hello.name}' connected again from {peer or 'elsewhere'}; "
                    "this older stream is closed"
                )
            )
        session.start()
        try:
            session.put_revision = await self.store.liveness.put(
                hello.name, session.id, self.identity, lease
            )
            session.check_superseded()
            await self._register(hello)
        except BaseException:
            await session.close(goodbye=True)
            raise
        log.info(
            "agent %s connected from %s (session %s, capacity %d, labels %s, version %s)",
            hello.name,
            peer or "?",
            session.id,
            hello.capacity,
            json.dumps(hello.labels, sort_keys=True),
            hello.version or "?",
        )
        if hello.pipelines:
            log.info(
                "agent %s says it runs %s",
                hello.name,
                ", ".join(f"{name}@{generation}" for name, generation in hello.pipelines),
            )
        return session

    async def _register(self, hello: AgentHello) -> None:
        now = self.clock()
        spec = AgentSpec(
            capacity=hello.capacity,
            version=hello.version or None,
            hostname=hello.hostname or None,
            executors=list(hello.executors),
        )

        def update(agent: Agent) -> Agent:
            agent.metadata.labels = dict(hello.labels)
            # A cordon is the operator's, not the agent's: it outlives reconnects.
            agent.spec = spec.model_copy(update={"unschedulable": agent.spec.unschedulable})
            status = agent.status
            status.phase = AgentPhase.READY
            status.connectedAt = now
            status.lastHeartbeat = now
            status.server = self.identity
            status.message = None
            return agent

        try:
            await self.store.mutate(Agent, hello.name, update)
            return
        except NotFound:
            pass
        fresh = Agent(
            metadata=ObjectMeta(name=hello.name, labels=dict(hello.labels)),
            spec=spec,
            status=AgentStatus(
                phase=AgentPhase.READY, connectedAt=now, lastHeartbeat=now, server=self.identity
            ),
        )
        try:
            await self.store.create(fresh)
        except AlreadyExists:
            await self.store.mutate(Agent, hello.name, update)

    async def send_command(
        self, agent: str, kind: CommandKind, run: str, payload: dict[str, Any] | None = None
    ) -> AgentCommand:
        """Store a command for `agent`; whichever replica holds its stream delivers it."""
        command = new_command(kind, run, payload)
        await self.store.commands.send(agent, command)
        return command

    async def run(self) -> None:
        """Deliver commands written for agents whose streams this replica holds."""
        with self._command_cache.listening(self._route):
            await asyncio.Future()

    def _route(self, change: Change[QueuedCommand]) -> None:
        if change.new is None or change.old is not None:
            return  # acknowledged (deleted): nothing to deliver
        session = self._sessions.get(change.new.agent)
        if session is None:
            return  # another replica holds the stream, or the agent picks it up on connect
        session.deliver(change.new.command)

    async def commands_synced(self) -> None:
        """Return once this replica's cache of commands has been listed."""
        await self._command_cache.wait_synced()

    def _forget(self, session: AgentSession) -> None:
        if self._sessions.get(session.agent) is session:
            del self._sessions[session.agent]


class AgentSession:
    """One open stream of one agent: its lease, its assignments, its commands."""

    def __init__(self, service: AgentService, hello: AgentHello, lease_id: int, peer: str) -> None:
        self.service = service
        self.hello = hello
        self.agent = hello.name
        self.lease_id = lease_id
        self.peer = peer
        self.id = uuid.uuid4().hex[:12]
        self.put_revision: int | None = None
        self.ended = asyncio.Event()
        self.end_reason: XeneError | None = None
        self._assignments_changed = asyncio.Event()
        self._commands: asyncio.Queue[AgentCommand] = asyncio.Queue()
        # Ids sent on this stream: a command can arrive both in the backlog and from the watch,
        # also after its ack, so the ids are kept (the newest few thousand) to send it once.
        self._delivered: OrderedDict[str, None] = OrderedDict()
        self._last_recorded = time.monotonic()
        self._loaded: dict[str, tuple[PipelineEntry, PipelineAssignment]] = {}
        self._exit = contextlib.ExitStack()
        self._closed = False

    def __repr__(self) -> str:
        return f"AgentSession({self.agent!r}, id={self.id!r})"

    @property
    def store(self) -> ObjectStore:
        return self.service.store

    @property
    def view(self) -> ClusterView:
        return self.service.view

    @property
    def pipelines(self) -> Informer[Pipeline]:
        return self.service.view.informers.kind(Pipeline)

    def start(self) -> None:
        """Begin following the view (before the liveness key is written, to miss nothing)."""
        self._exit.enter_context(self.view.listening(self._on_view_change, agent=self.agent))

    def end(self, reason: XeneError) -> None:
        """Mark the session over; the transport closes the stream with `reason`."""
        if not self.ended.is_set():
            self.end_reason = reason
            self.ended.set()
            log.warning("agent %s session %s ends: %s", self.agent, self.id, reason)

    # -- liveness -------------------------------------------------------------------------

    def _on_view_change(self, change: ViewChange) -> None:
        if change.kind == "alive" and change.name == self.agent:
            # Changes up to our own write are history: an older session's key, our own put.
            if self.put_revision is None or change.revision <= self.put_revision:
                return
            if change.after is None:
                self.end(self._expired())
            elif change.after.session != self.id:
                self.end(self._superseded(change.after))
        elif change.kind == "pipeline":
            for entry in (change.before, change.after):
                if entry is not None and entry.placed_on == self.agent:
                    self._assignments_changed.set()

    def check_superseded(self) -> None:
        """End the session if a newer session already took the liveness key over."""
        alive = self.view.alive(self.agent)
        if (
            alive is not None
            and self.put_revision is not None
            and alive.session != self.id
            and alive.revision > self.put_revision
        ):
            self.end(self._superseded(alive))

    def _superseded(self, alive: AliveEntry) -> AlreadyExists:
        return AlreadyExists(
            f"agent '{self.agent}' connected again (session {alive.session} on "
            f"{alive.server}); this older stream is closed"
        )

    def _expired(self) -> Unavailable:
        return Unavailable(f"the liveness lease of agent '{self.agent}' expired; reconnect")

    async def heartbeat(self) -> bool:
        """Renew the lease; False when it could not be renewed (then no ack is sent)."""
        try:
            remaining = await self.store.liveness.renew(self.lease_id)
        except XeneError as exc:
            log.warning("agent %s: could not renew its lease: %s", self.agent, exc)
            return False
        if remaining <= 0:
            self.end(self._expired())
            return False
        if time.monotonic() - self._last_recorded >= HEARTBEAT_RECORD_SECONDS:
            self._last_recorded = time.monotonic()
            await self._record_heartbeat()
        return True

    async def _record_heartbeat(self) -> None:
        now = self.service.clock()

        def update(agent: Agent) -> Agent | None:
            if agent.status.server != self.service.identity:
                return None  # another replica holds a newer stream
            agent.status.lastHeartbeat = now
            return agent

        try:
            await self.store.mutate(Agent, self.agent, update)
        except XeneError as exc:
            log.info("agent %s: lastHeartbeat not recorded: %s", self.agent, exc)

    async def close(self, *, goodbye: bool) -> None:
        """Stop following; with `goodbye`, end the agent's liveness at once."""
        if self._closed:
            return
        self._closed = True
        self._exit.close()
        self.service._forget(self)
        superseded = isinstance(self.end_reason, AlreadyExists)
        if not goodbye or superseded:
            log.info("agent %s stream closed (session %s)", self.agent, self.id)
            return
        # Revoking deletes the liveness key only while it is still ours (it carries our lease).
        try:
            await self.store.liveness.end(self.lease_id)
        except XeneError as exc:
            log.warning("agent %s: lease not revoked (it expires by itself): %s", self.agent, exc)
            return
        if self.put_revision is None:
            return

        def update(agent: Agent) -> Agent | None:
            if agent.status.server != self.service.identity:
                return None
            agent.status.phase = AgentPhase.NOT_READY
            agent.status.message = "the agent stopped (it said goodbye)"
            return agent

        try:
            await self.store.mutate(Agent, self.agent, update)
        except XeneError as exc:
            log.info("agent %s: NotReady not recorded: %s", self.agent, exc)
        log.info("agent %s said goodbye (session %s)", self.agent, self.id)

    # -- assignments ----------------------------------------------------------------------

    async def assignments(self) -> AsyncIterator[list[PipelineAssignment]]:
        """The agent's full desired set now, then again each time it changes."""
        last: list[tuple[str, str, int]] | None = None
        while True:
            self._assignments_changed.clear()
            desired = await self._load(self.view.pipelines_on(self.agent))
            identity = [(a.name, a.uid, a.generation) for a in desired]
            if identity != last:
                last = identity
                yield desired
            await self._assignments_changed.wait()
            # Placements often come in bursts (an agent died, a workflow was applied).
            await asyncio.sleep(ASSIGNMENT_DEBOUNCE_SECONDS)

    async def _load(self, entries: list[PipelineEntry]) -> list[PipelineAssignment]:
        loaded: list[PipelineAssignment] = []
        for entry in entries:
            cached = self._loaded.get(entry.name)
            if cached is not None and (cached[0].uid, cached[0].generation) == (
                entry.uid,
                entry.generation,
            ):
                loaded.append(cached[1])
                continue
            pipeline = self.pipelines.get(entry.name)
            if pipeline is None:
                continue
            status = pipeline.status
            if status.phase != SchedulePhase.SCHEDULED or status.agent != self.agent:
                continue  # the view is behind; it will tell us again
            assignment = PipelineAssignment(
                name=pipeline.metadata.name,
                uid=pipeline.metadata.uid or "",
                generation=pipeline.metadata.generation or 1,
                pipeline_json=json.dumps(pipeline.to_dict(), separators=(",", ":")).encode(),
            )
            self._loaded[entry.name] = (entry, assignment)
            loaded.append(assignment)
        for name in self._loaded.keys() - {a.name for a in loaded}:
            del self._loaded[name]
        return loaded

    async def record_pipeline_state(
        self, name: str, generation: int, phase: str, message: str = ""
    ) -> None:
        """Store the agent-side phase of a pipeline, if the pipeline is still this agent's."""
        try:
            agent_phase = AgentPipelinePhase(phase)
        except ValueError:
            agent_phase = AgentPipelinePhase.UNKNOWN

        def update(pipeline: Pipeline) -> Pipeline | None:
            status = pipeline.status
            if status.phase != SchedulePhase.SCHEDULED or status.agent != self.agent:
                return None  # moved away meanwhile: the new agent reports for it
            wanted = (agent_phase, message or None, generation)
            if (status.agentPhase, status.agentMessage, status.observedGeneration) == wanted:
                return None
            status.agentPhase, status.agentMessage, status.observedGeneration = wanted
            return pipeline

        try:
            await self.store.mutate(Pipeline, name, update)
        except NotFound:
            pass

    # -- commands -------------------------------------------------------------------------

    def deliver(self, command: AgentCommand) -> None:
        """Queue a command that was just written for this agent."""
        self._commands.put_nowait(command)

    async def commands(self) -> AsyncIterator[AgentCommand]:
        """Commands not yet acknowledged: the stored backlog first, then new ones."""
        await self.service.commands_synced()
        # The backlog from etcd itself: what an earlier stream had acknowledged is surely gone.
        for command in await self.store.commands.list(self.agent):
            self._remember(command.id)
            yield command
        while True:
            command = await self._commands.get()
            if command.id in self._delivered:
                continue  # also in the backlog
            self._remember(command.id)
            yield command

    def _remember(self, command_id: str) -> None:
        self._delivered[command_id] = None
        while len(self._delivered) > DELIVERED_IDS_KEPT:
            self._delivered.popitem(last=False)

    async def acknowledge(self, command_id: str, error: str = "") -> None:
        """The agent took over (or refused) a command: it is done and deleted."""
        if error:
            log.warning("agent %s refused command %s: %s", self.agent, command_id, error)
        if "/" in command_id or not command_id:
            raise Invalid([FieldError("ack.command_id", f"'{command_id}' is not a command id")])
        await self.store.commands.acknowledge(self.agent, command_id)
