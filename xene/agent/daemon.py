"""The xene-agent process: the pipeline supervisor and the server connection, started in order."""

from __future__ import annotations

import asyncio
import logging

from xene.agent.connection import CommandHandler, ServerConnection, refuse_commands
from xene.agent.settings import AgentSettings
from xene.agent.supervisor import PipelineHandler, PipelineSupervisor

log = logging.getLogger(__name__)


class AgentDaemon:
    """Owns everything one agent runs; `run()` returns after a clean goodbye."""

    def __init__(
        self,
        settings: AgentSettings,
        *,
        handler: PipelineHandler | None = None,
        command_handler: CommandHandler = refuse_commands,
    ) -> None:
        self.settings = settings
        self.supervisor = PipelineSupervisor(handler)
        self.connection = ServerConnection(
            settings, self.supervisor, command_handler=command_handler
        )

    async def run(self, stop: asyncio.Event) -> None:
        """Serve until `stop` is set, then say goodbye and stop every pipeline."""
        async with asyncio.TaskGroup() as group:
            supervisor = group.create_task(self.supervisor.run(), name="pipeline supervisor")
            await self.supervisor.started.wait()
            try:
                await self.connection.run(stop)
            finally:
                supervisor.cancel()
        log.info("agent %s stopped", self.settings.name)
