"""A run's record and logs survive an apiserver restart mid-run (reports replayed once)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.fixtures.agents import apply_workflow, placements, workflow
from tests.fixtures.servers import ApiServerProcess
from tests.integration.runs.conftest import eventually
from tests.integration.runs.stream_agent import StreamAgent
from xene.api.run import PipelineRun, RunPhase, RunTrigger
from xene.apiserver.services.logstore import FileLogStore
from xene.apiserver.services.runs import RunService
from xene.store.objects import ObjectStore


def prefix_of(server: ApiServerProcess) -> str:
    return server.args[server.args.index("--etcd-prefix") + 1]


async def test_run_record_and_logs_are_complete_across_an_apiserver_restart(
    apiserver: ApiServerProcess, etcd_server, tmp_path: Path
) -> None:
    apply_workflow(apiserver, workflow("wf", {"build": {}}))
    agent = await StreamAgent(apiserver.grpc_address, "worker", "").connect()
    try:
        await eventually(lambda: placements(apiserver).get("wf.build") == "worker", 20.0)
        store = await ObjectStore.connect(etcd_server.endpoint, prefix=prefix_of(apiserver))
        try:
            runs = RunService(store)
            created = await runs.create_run("wf.build", trigger=RunTrigger(type="manual"))
            assert created.run is not None and created.run.metadata.name == "wf.build.1"

            start = await eventually(lambda: agent.commands("start_run"), 20.0, "StartRun")
            agent.ack(start[0].id)
            agent.run_update("wf.build.1", 1, 1, {"phase": "Running"}, [{"type": "RunStarted"}])
            agent.log_chunk("wf.build.1", 1, 2, "main", "hello", "line 1", "line 2")
            await eventually(lambda: agent.acked_seqs() == [1, 2], 10.0, "acks of 1 and 2")
            await agent.close()

            await asyncio.to_thread(apiserver.stop)
            await asyncio.to_thread(apiserver.start)

            # The agent reconnects still running attempt 1 and replays what it is unsure of.
            agent = await StreamAgent(apiserver.grpc_address, "worker", "").connect(
                runs=[("wf.build.1", 1)]
            )
            agent.log_chunk("wf.build.1", 1, 2, "main", "hello", "line 1", "line 2")
            agent.log_chunk("wf.build.1", 1, 3, "main", "hello", "line 3")
            agent.run_update("wf.build.1", 1, 4, {"phase": "Succeeded"}, [{"type": "RunSucceeded"}])
            await eventually(lambda: agent.acked_seqs() == [2, 3, 4], 20.0, "acks after restart")

            run = await store.get(PipelineRun, "wf.build.1")
            assert run.status.phase == RunPhase.SUCCEEDED
            assert [(a.number, a.result) for a in run.status.attempts] == [(1, "Succeeded")]
        finally:
            await store.close()
    finally:
        await agent.close()
    logs = FileLogStore(tmp_path / "data" / "logs")
    assert [r.line for r in await logs.read("wf.build.1")] == ["line 1", "line 2", "line 3"]
    assert [e["type"] for e in await logs.read_events("wf.build.1")] == [
        "RunStarted",
        "RunSucceeded",
    ]
