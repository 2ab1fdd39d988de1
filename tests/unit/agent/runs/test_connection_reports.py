"""The connection's side of runs: reports sent in order within a window and replayed on a new
stream, Hello.runs, and run requests matched to their answers."""

from __future__ import annotations

import asyncio
import json

import pytest

from tests.unit.agent.runs.helpers import pipeline_object, run_object
from xene.agent.connection import (
    REPORT_CODEC,
    REPORT_WINDOW,
    ServerConnection,
    StreamQueue,
    decode_command,
)
from xene.agent.contract import CancelRun, CreateRunResult, StartRun
from xene.agent.runs.outbox import Outbox
from xene.agent.settings import AgentSettings
from xene.agent.supervisor import PipelineSupervisor
from xene.api.errors import Unavailable
from xene.api.plan import compile_plan
from xene.proto.xene.v1 import agent_pb2


def connection(outbox: Outbox | None = None, runs: list[tuple[str, int]] | None = None):
    return ServerConnection(
        AgentSettings(name="a"),
        PipelineSupervisor(),
        reports=outbox,
        active_runs=lambda: runs or [],
    )


def queued(stream: StreamQueue) -> list[agent_pb2.AgentMessage]:
    """What went out on the stream, as the server receives it (reports go out pre-encoded)."""
    found = []
    while not stream.queue.empty():
        message = stream.queue.get_nowait()
        assert message is not None
        if isinstance(message, bytes):
            message = agent_pb2.AgentMessage.FromString(message)
        found.append(message)
    return found


def report_seq(message: agent_pb2.AgentMessage) -> int:
    return REPORT_CODEC.decode(message.SerializeToString()).seq


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_reports_go_out_in_order_within_the_window_and_again_on_a_new_stream() -> None:
    outbox = Outbox(codec=REPORT_CODEC)
    for number in range(REPORT_WINDOW + 50):
        outbox.add_log_chunk("wf.p.1", 1, "t", "s", ["stdout"], [f"line {number}"], [0.0])
    conn = connection(outbox)
    stream = StreamQueue(asyncio.Queue())
    sender = asyncio.create_task(conn._send_reports(outbox, stream))
    try:
        await settle()
        sent = [report_seq(m) for m in queued(stream)]
        assert sent == list(range(1, REPORT_WINDOW + 1))

        outbox.ack(range(1, 11))
        await settle()
        assert [report_seq(m) for m in queued(stream)] == list(
            range(REPORT_WINDOW + 1, REPORT_WINDOW + 11)
        )
        new = outbox.add_run_update("wf.p.1", 1, b'{"phase":"Running"}')
        outbox.ack(range(11, 300))
        await settle()
        assert [report_seq(m) for m in queued(stream)][-1] == new
    finally:
        sender.cancel()

    # A new stream starts over with everything not acknowledged.
    outbox.ack(range(300, new))
    stream = StreamQueue(asyncio.Queue())
    sender = asyncio.create_task(conn._send_reports(outbox, stream))
    try:
        await settle()
        assert [report_seq(m) for m in queued(stream)] == [new]
    finally:
        sender.cancel()


def test_hello_lists_the_attempts_the_agent_runs() -> None:
    hello = connection(runs=[("wf.p.1", 2), ("wf.q.4", 1)])._hello()
    assert [(ref.run, ref.attempt) for ref in hello.runs] == [("wf.p.1", 2), ("wf.q.4", 1)]


async def test_a_run_request_gets_the_answer_with_its_request_id() -> None:
    conn = connection()
    stream = StreamQueue(asyncio.Queue())
    conn._stream = stream
    conn.connected.set()
    request = asyncio.create_task(
        conn.create_run(
            "wf.p",
            trigger={"type": "cron", "name": "nightly"},
            dedup_key="cron:nightly:1",
            concurrency_policy="Forbid",
        )
    )
    await settle()
    (message,) = queued(stream)
    sent = message.create_run
    assert sent.pipeline == "wf.p" and sent.dedup_key == "cron:nightly:1"
    assert json.loads(sent.trigger_json) == {"type": "cron", "name": "nightly"}
    conn._answered(agent_pb2.CreateRunResponse(request_id="someone-else", run="x"))
    conn._answered(agent_pb2.CreateRunResponse(request_id=sent.request_id, run="wf.p.7", number=7))
    answer = await request
    assert (answer.run, answer.number) == ("wf.p.7", 7)


async def test_a_run_request_fails_as_unavailable_offline_on_timeout_and_on_disconnect() -> None:
    conn = connection()
    with pytest.raises(Unavailable, match="not connected"):
        await conn.create_run("wf.p", trigger={})

    conn._stream = StreamQueue(asyncio.Queue())
    conn.connected.set()
    with pytest.raises(Unavailable, match="no answer"):
        await conn.create_run("wf.p", trigger={}, timeout=0.05)

    request = asyncio.create_task(conn.create_run("wf.p", trigger={}))
    await settle()
    conn._fail_requests("the connection to the apiserver was lost")
    with pytest.raises(Unavailable, match="lost"):
        await request


async def test_trigger_states_are_sent_when_connected_and_dropped_otherwise() -> None:
    conn = connection()
    await conn.report_trigger_state("wf.nightly", {"lastRun": "wf.p.1"})  # dropped
    stream = StreamQueue(asyncio.Queue())
    conn._stream = stream
    conn.connected.set()
    await conn.report_trigger_state("wf.nightly", {"lastRun": "wf.p.2"})
    (message,) = queued(stream)
    assert message.trigger_state.trigger == "wf.nightly"
    assert json.loads(message.trigger_state.status_json) == {"lastRun": "wf.p.2"}


def test_commands_arrive_as_the_contracts_types_or_are_refused_with_the_reason() -> None:
    run = run_object()
    pipeline = pipeline_object({"t": {"steps": [{"name": "s", "run": "echo hi"}]}})
    plan = compile_plan(pipeline.spec)
    start = agent_pb2.Command(
        id="c1",
        start_run=agent_pb2.StartRun(
            run=run.metadata.name,
            run_json=run.model_dump_json().encode(),
            attempt=2,
            pipeline_json=pipeline.model_dump_json().encode(),
            plan_json=plan.model_dump_json().encode(),
        ),
    )
    assert decode_command(start) == StartRun("c1", run, 2, pipeline, plan)

    start.start_run.plan_json = b""  # an older server: the agent compiles the plan itself
    assert decode_command(start) == StartRun("c1", run, 2, pipeline, None)

    start.start_run.pipeline_json = b'{"kind": "Pipeline"'
    assert "the server sent a run this agent cannot read" in str(decode_command(start))
    start.start_run.pipeline_json = b""
    assert decode_command(start) == "StartRun of run 'wf.build.1' carries no pipeline"

    cancel = agent_pb2.Command(id="c2", cancel_run=agent_pb2.CancelRun(run="wf.build.1"))
    assert decode_command(cancel) == CancelRun("c2", "wf.build.1", 0, "cancelled")
    assert decode_command(agent_pb2.Command(id="c3")) == (
        "this agent does not handle unknown commands"
    )


async def test_a_run_request_answer_arrives_as_the_contracts_type() -> None:
    conn = connection()
    conn._stream = StreamQueue(asyncio.Queue())
    conn.connected.set()
    request = asyncio.create_task(conn.create_run("wf.p", trigger={}))
    await settle()
    (message,) = queued(conn._stream)
    conn._answered(
        agent_pb2.CreateRunResponse(
            request_id=message.create_run.request_id, skipped="run wf.p.3 is not finished"
        )
    )
    assert await request == CreateRunResult(skipped="run wf.p.3 is not finished")
