"""Agents' liveness: a key per agent, written with a lease the agent's heartbeats renew.

The key exists exactly while the lease lives: etcd deletes it when the lease expires (the agent
is gone or cut off) or is revoked (it said goodbye). Its value names the session and the
replica holding the agent's stream, so a newer session on any replica is seen by the older one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from xene.store.keys import KeyLayout, check_name
from xene.store.kv import Compare, KeyValue, KeyValueStore, TxnPart
from xene.store.sources import KeyRange


@dataclass(frozen=True, slots=True)
class AliveEntry:
    """One agent's liveness key: which session of which replica holds it."""

    name: str
    session: str
    server: str
    revision: int
    lease: int = 0


def encode_alive(session: str, server: str) -> bytes:
    """The value of a liveness key."""
    return json.dumps({"session": session, "server": server}, separators=(",", ":")).encode()


def decode_alive(name: str, kv: KeyValue) -> AliveEntry:
    """The entry a liveness key holds (one written by something else reads as no session)."""
    try:
        data = json.loads(kv.value)
        session, server = str(data.get("session", "")), str(data.get("server", ""))
    except (ValueError, AttributeError):
        session, server = "", ""
    return AliveEntry(name, session, server, kv.mod_revision, kv.lease)


class Liveness:
    """Grants, writes, renews and ends agents' liveness leases and keys."""

    def __init__(self, kv: KeyValueStore, keys: KeyLayout) -> None:
        self._kv = kv
        self._keys = keys

    async def grant(self, ttl_seconds: int) -> int:
        """A new lease for an agent's liveness; its id."""
        return (await self._kv.lease_grant(ttl_seconds)).id

    async def put(self, agent: str, session: str, server: str, lease: int) -> int:
        """Mark `agent` alive for as long as `lease` lives; the revision of the write."""
        check_name(agent, "agent")
        result = await self._kv.put(
            self._keys.alive(agent), encode_alive(session, server), lease=lease
        )
        return result.revision

    async def renew(self, lease: int) -> int:
        """Refresh the lease once; the seconds it now has, 0 when it has expired."""
        return await self._kv.lease_keepalive(lease)

    async def end(self, lease: int) -> None:
        """Revoke the lease: the liveness key written with it (if still) is deleted at once."""
        await self._kv.lease_revoke(lease)

    async def get(self, agent: str) -> AliveEntry | None:
        """The agent's liveness key as etcd has it now, or None when the agent is not alive."""
        kv = await self._kv.get(self._keys.alive(agent))
        return decode_alive(agent, kv) if kv is not None else None

    def alive(self, agent: str) -> TxnPart:
        """A condition for another write: `agent`'s liveness key exists."""
        return TxnPart(compares=(Compare.exists(self._keys.alive(agent)),))

    def gone(self, agent: str) -> TxnPart:
        """A condition for another write: `agent` has no liveness key."""
        return TxnPart(compares=(Compare.missing(self._keys.alive(agent)),))

    def list_watch(self) -> KeyRange[AliveEntry]:
        """Every agent's liveness key, for an informer (keyed by agent name)."""
        return KeyRange(
            self._kv, self._keys.alive_prefix, decode_alive, description="agent liveness keys"
        )
