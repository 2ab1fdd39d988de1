"""The Agent kind: a worker host registered over its gRPC stream."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import Field

from xene.api.executors import HOST_KINDS
from xene.api.meta import Resource, StrictModel


class AgentPhase(StrEnum):
    """Ready while the agent's liveness lease is kept alive."""

    READY = "Ready"
    NOT_READY = "NotReady"


class AgentSpec(StrictModel):
    """What the agent declared when it registered, and whether new pipelines may go to it."""

    capacity: int = Field(default=1, ge=1)
    version: str | None = None
    hostname: str | None = None
    executors: list[str] = Field(default_factory=lambda: [str(kind) for kind in HOST_KINDS])
    # Set by `xenectl cordon` (Kubernetes' Node.spec.unschedulable); kept across registrations.
    unschedulable: bool = False


class AgentStatus(StrictModel):
    """Liveness and load, maintained by the server."""

    phase: AgentPhase = AgentPhase.NOT_READY
    lastHeartbeat: datetime | None = None
    connectedAt: datetime | None = None
    server: str | None = None
    pipelines: list[str] = Field(default_factory=list)
    runningRuns: list[str] = Field(default_factory=list)
    message: str | None = None


class Agent(Resource):
    """A worker host; its labels are metadata.labels, matched by pipelines' agentSelector."""

    kind_name = "Agent"
    plural = "agents"

    kind: Literal["Agent"] = "Agent"
    spec: AgentSpec = Field(default_factory=AgentSpec)
    status: AgentStatus = Field(default_factory=AgentStatus)
