"""The xene-agent process: the run manager, the pipeline supervisor and the server connection,
started in order and stopped in reverse.

A clean stop (SIGTERM) takes no more runs, stops the running ones (their containers and
workspaces are removed; the server hands them to another agent after the goodbye), gives the
server a moment to acknowledge the last reports, says goodbye, and leaves whatever is still
unacknowledged in the outbox on disk for the next start.
"""

from __future__ import annotations

import asyncio
import logging
import shutil

from xene.agent.connection import REPORT_CODEC, ServerConnection
from xene.agent.contract import CommandHandler
from xene.agent.cron.controller import CronOptions, CronPipelineHandler
from xene.agent.runs import Outbox, RunManager
from xene.agent.settings import AgentSettings
from xene.agent.supervisor import PipelineHandler, PipelineSupervisor
from xene.api.executors import DOCKER
from xene.engine.executors.registry import RunExecutors, default_factories

log = logging.getLogger(__name__)

# At shutdown, how long the server gets to acknowledge the last run reports before the goodbye.
REPORT_DRAIN_SECONDS = 2.0


class AgentDaemon:
    """Owns everything one agent runs; `run()` returns after a clean goodbye."""

    def __init__(
        self,
        settings: AgentSettings,
        *,
        handler: PipelineHandler | None = None,
        command_handler: CommandHandler | None = None,
        runs: RunManager | None = None,
    ) -> None:
        self.settings = settings
        self.supervisor = PipelineSupervisor(handler)
        self.outbox = (
            runs.outbox
            if runs is not None
            else Outbox(settings.data_dir / "outbox", codec=REPORT_CODEC)
        )
        self.runs = runs or RunManager(
            self.outbox,
            RunExecutors(
                settings.executor,
                default_factories(
                    settings.name,
                    settings.data_dir / "workspaces",
                    warm_pool_size=settings.warm_pool_size,
                    warm_pool_images=settings.warm_pool_images,
                ),
            ),
            parallelism=settings.parallelism,
        )
        self.connection = ServerConnection(
            settings,
            self.supervisor,
            command_handler=command_handler or self.runs.handle_command,
            reports=self.outbox,
            active_runs=self.runs.active_attempts,
        )
        if handler is None:
            # Serving a pipeline means running its cron triggers; they ask this connection.
            self.supervisor.handler = CronPipelineHandler(
                self.connection,
                options=CronOptions(schedule_override=settings.cron_schedule_override),
            )

    async def run(self, stop: asyncio.Event) -> None:
        """Serve until `stop` is set, then stop runs, say goodbye and stop every pipeline."""
        # Workspaces of runs a killed agent left behind; nothing runs yet.
        await asyncio.to_thread(
            shutil.rmtree, self.settings.data_dir / "workspaces", ignore_errors=True
        )
        self.outbox.open()
        if self._sweeps():
            # The sweep removes every container labelled as this agent's: a run started before
            # it has listed them would lose its own.
            self.runs.executors.hold_until_swept()
        disconnect = asyncio.Event()
        try:
            async with asyncio.TaskGroup() as group:
                runs = group.create_task(self.runs.run(), name="run manager")
                supervisor = group.create_task(self.supervisor.run(), name="pipeline supervisor")
                await self.runs.started.wait()
                await self.supervisor.started.wait()
                helpers = [
                    group.create_task(self._sweep(), name="sweep leftovers"),
                    group.create_task(self._wind_down(stop, disconnect), name="wind down"),
                ]
                try:
                    await self.connection.run(disconnect)
                finally:
                    for task in (*helpers, supervisor, runs):
                        task.cancel()
        finally:
            self.outbox.close()
        log.info("agent %s stopped", self.settings.name)

    async def _wind_down(self, stop: asyncio.Event, disconnect: asyncio.Event) -> None:
        await stop.wait()
        try:
            self.supervisor.stop_all("the agent is shutting down")
            await self.runs.shutdown()
            if not await self.connection.drain_reports(REPORT_DRAIN_SECONDS):
                log.info(
                    "%d run report(s) not acknowledged yet: kept in %s for the next start",
                    len(self.outbox),
                    self.outbox.directory,
                )
        finally:
            disconnect.set()

    def _sweeps(self) -> bool:
        return self.settings.executor == DOCKER and DOCKER in self.settings.executors

    async def _sweep(self) -> None:
        """Remove containers an earlier process of this agent left (killed mid-run)."""
        if not self._sweeps():
            return
        try:
            await self.runs.executors.sweep()
        except Exception:
            log.exception("removing leftovers of earlier runs failed")
