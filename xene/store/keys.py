"""Where everything lives in etcd, under one prefix: the store's whole key layout in one place.

```
{prefix}/registry/{plural}/{name}     one API object as JSON (resourceVersion = mod_revision)
{prefix}/alive/agents/{agent}         an agent's liveness, written with its lease
{prefix}/commands/{agent}/{id}        a command for an agent, deleted when the agent acks it
{prefix}/sequences/runs/{pipeline}    the number of a pipeline's latest run
{prefix}/dedup/{pipeline}/{key}       the run an idempotency key of a pipeline made
{prefix}/elections/{name}             the holder of a leader election
{prefix}/readyz                       read (never written) by readiness checks
```
Nothing outside xene/store builds these keys.
"""

from __future__ import annotations

from xene.api.errors import FieldError, Invalid
from xene.api.meta import Resource

DEFAULT_PREFIX = "/xene"
MAX_NAME_LENGTH = 253


def check_name(name: str, field: str = "metadata.name") -> None:
    """Raise Invalid unless `name` can be one segment of a key."""
    problem = None
    if not name:
        problem = "must not be empty"
    elif "/" in name:
        problem = f"'{name}' must not contain '/'"
    elif len(name) > MAX_NAME_LENGTH:
        problem = f"must be at most {MAX_NAME_LENGTH} characters (got {len(name)})"
    elif name.strip() != name or any(c.isspace() for c in name):
        problem = f"'{name}' must not contain whitespace"
    if problem:
        raise Invalid([FieldError(field, problem)])


class KeyLayout:
    """The etcd keys of one Xene installation, all under `prefix`."""

    def __init__(self, prefix: str = DEFAULT_PREFIX) -> None:
        cleaned = "/" + prefix.strip("/")
        if cleaned == "/":
            raise Invalid([FieldError("prefix", "the etcd key prefix must not be empty")])
        self.prefix = cleaned

    def __repr__(self) -> str:
        return f"KeyLayout({self.prefix!r})"

    def kind_prefix(self, cls: type[Resource]) -> str:
        """The key prefix under which objects of `cls` are stored."""
        if not cls.plural:
            raise TypeError(f"{cls.__name__} has no `plural`: it is not a storable kind")
        return f"{self.prefix}/registry/{cls.plural}/"

    def object_key(self, cls: type[Resource], name: str) -> str:
        """The key of one object."""
        check_name(name)
        return self.kind_prefix(cls) + name

    @property
    def alive_prefix(self) -> str:
        """The prefix of every agent's liveness key."""
        return f"{self.prefix}/alive/agents/"

    def alive(self, agent: str) -> str:
        """The key that exists while `agent` is alive."""
        return self.alive_prefix + agent

    @property
    def commands_prefix(self) -> str:
        """The prefix of every agent's commands."""
        return f"{self.prefix}/commands/"

    def commands_of(self, agent: str) -> str:
        """The prefix of the commands for `agent`."""
        return f"{self.commands_prefix}{agent}/"

    def command(self, agent: str, command_id: str) -> str:
        """The key of one command for `agent`."""
        check_name(command_id, "command id")
        return self.commands_of(agent) + command_id

    def run_sequence(self, pipeline: str) -> str:
        """The counter of a pipeline's run numbers."""
        return f"{self.prefix}/sequences/runs/{pipeline}"

    def dedup(self, pipeline: str, key: str) -> str:
        """Which run an idempotency key of `pipeline` created."""
        return f"{self.prefix}/dedup/{pipeline}/{key}"

    def election(self, name: str) -> str:
        """The key of a leader election; a name starting with '/' is a whole key already."""
        if not name.strip("/"):
            raise ValueError("an election name must not be empty")
        return name if name.startswith("/") else f"{self.prefix}/elections/{name}"

    @property
    def readiness(self) -> str:
        """The key readiness checks read to prove a quorum answers."""
        return f"{self.prefix}/readyz"

    def relative(self, key: bytes, under: str) -> str:
        """The part of `key` after the prefix `under`."""
        return key.decode()[len(under) :]
