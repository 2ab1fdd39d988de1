"""Commands to agents (StartRun, CancelRun): stored until the agent acknowledges them.

Whichever replica holds an agent's stream delivers its commands (at least once; the agent
dedups by run and attempt) and deletes each one when the agent acks it, so none is lost
across restarts. A command is usually written in the same transaction as the state it
stands for (`sending`), so no command exists for a state that was never stored.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

from xene.api.errors import XeneError
from xene.store.keys import KeyLayout
from xene.store.kv import Delete, KeyValue, KeyValueStore, Put, TxnPart
from xene.store.sources import KeyRange

log = logging.getLogger(__name__)

CommandKind = Literal["StartRun", "CancelRun"]


@dataclass(frozen=True)
class AgentCommand:
    """A one-off instruction to an agent, stored until the agent acknowledges it."""

    id: str
    kind: CommandKind
    run: str
    payload: dict[str, Any] = field(default_factory=dict)

    @property
    def attempt(self) -> int:
        """The run attempt the command is about (0 when it names none)."""
        return int(self.payload.get("attempt", 0) or 0)

    def encode(self) -> bytes:
        """The stored form."""
        data = {"id": self.id, "kind": self.kind, "run": self.run, "payload": self.payload}
        return json.dumps(data, separators=(",", ":")).encode()

    @classmethod
    def decode(cls, value: bytes) -> AgentCommand:
        """A command from its stored form; XeneError when it is not one."""
        try:
            data = json.loads(value)
            return cls(str(data["id"]), data["kind"], str(data["run"]), dict(data["payload"]))
        except (ValueError, KeyError, TypeError) as exc:
            raise XeneError(f"stored agent command cannot be read: {exc}") from exc


def new_command(kind: CommandKind, run: str, payload: dict[str, Any] | None = None) -> AgentCommand:
    """A command with a fresh id; ids sort in the order commands were made."""
    # Time-ordered ids keep a re-listed backlog in the order the commands were given.
    command_id = f"{time.time_ns():016x}-{uuid.uuid4().hex[:8]}"
    return AgentCommand(command_id, kind, run, dict(payload or {}))


@dataclass(frozen=True, slots=True)
class QueuedCommand:
    """A stored command and the agent it is for."""

    agent: str
    command: AgentCommand


def _decode_queued(key: str, kv: KeyValue) -> QueuedCommand:
    agent, _, _ = key.partition("/")
    try:
        return QueuedCommand(agent, AgentCommand.decode(kv.value))
    except XeneError as exc:
        log.error("skipping unreadable command %s: %s", key, exc)
        raise ValueError(str(exc)) from exc


class CommandQueue:
    """The commands waiting for each agent."""

    def __init__(self, kv: KeyValueStore, keys: KeyLayout) -> None:
        self._kv = kv
        self._keys = keys

    async def send(self, agent: str, command: AgentCommand) -> None:
        """Store a command for `agent`; whichever replica holds its stream delivers it."""
        await self._kv.put(self._keys.command(agent, command.id), command.encode())

    def sending(self, agent: str, command: AgentCommand) -> TxnPart:
        """`send`, as part of another write's transaction."""
        return TxnPart(ops=(Put(self._keys.command(agent, command.id), command.encode()),))

    def deleting(self, agent: str, command_id: str) -> TxnPart:
        """`acknowledge`, as part of another write's transaction."""
        return TxnPart(ops=(Delete(self._keys.command(agent, command_id)),))

    def clearing(self, agent: str) -> TxnPart:
        """Every command queued for `agent` deleted, as part of another write's transaction
        (the agent's object goes with them)."""
        return TxnPart(ops=(Delete(self._keys.commands_of(agent), prefix=True),))

    async def get(self, agent: str, command_id: str) -> AgentCommand | None:
        """One queued command, or None when it is not (or no longer) queued."""
        kv = await self._kv.get(self._keys.command(agent, command_id))
        if kv is None:
            return None
        try:
            return AgentCommand.decode(kv.value)
        except XeneError as exc:
            log.error("agent %s: %s (%s)", agent, exc, command_id)
            return None

    async def list(self, agent: str, *, revision: int = 0) -> list[AgentCommand]:
        """The commands queued for `agent`, oldest first, as of `revision` (0: now)."""
        result = await self._kv.range(self._keys.commands_of(agent), prefix=True, revision=revision)
        commands = []
        for kv in result.kvs:
            try:
                commands.append(AgentCommand.decode(kv.value))
            except XeneError as exc:
                log.error("agent %s: %s (%s)", agent, exc, kv.key.decode(errors="replace"))
        return commands

    async def acknowledge(self, agent: str, command_id: str) -> None:
        """The agent took over (or refused) a command: it is done and deleted."""
        await self._kv.delete(self._keys.command(agent, command_id))

    def list_watch(self) -> KeyRange[QueuedCommand]:
        """Every queued command of every agent, for an informer (keyed `agent/id`)."""
        return KeyRange(
            self._kv, self._keys.commands_prefix, _decode_queued, description="agent commands"
        )
