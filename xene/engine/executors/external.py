"""The external executor (`executor: external:<provider>`): tasks run by another CI system.

The BuildManager interface of seed 001 (trigger, status, cancel, close) that will drive the
provider is not there yet, so every run of such a pipeline fails with a message saying so, the
same on an agent and with `xenectl run --local`; validation accepts the pipeline so that
workflows written for it can be applied today.
"""

from __future__ import annotations

from collections.abc import Mapping

from xene.api.executors import EXTERNAL_PREFIX
from xene.api.plan import TaskPlan
from xene.engine.executor import Executor, ExecutorError, TaskContext, Workspace


class ExternalExecutor(Executor):
    """Runs of `external:<provider>` pipelines: refused with a clear reason."""

    def __init__(self, provider: str) -> None:
        self.provider = provider
        self.name = f"{EXTERNAL_PREFIX}{provider}"

    def unavailable(self) -> str:
        """Why no run of this provider can start."""
        return (
            f"executor '{self.name}' is not available: no build manager for external "
            f"provider '{self.provider}' is configured on this host"
        )

    async def prepare_run(self, run_id: str) -> Workspace:
        """Refuse: nothing can run this provider's tasks."""
        raise ExecutorError(self.unavailable())

    async def open_task(
        self, name: str, task: TaskPlan, workspace: Workspace, env: Mapping[str, str]
    ) -> TaskContext:
        """Refuse (never reached: prepare_run refuses first)."""
        raise ExecutorError(self.unavailable())

    async def cleanup_run(self, workspace: Workspace) -> None:
        """Nothing was created."""
