"""NotifierHub: webhook deliveries, filters, signatures, and failures that never reach the run."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from typing import Any

import httpx
import pytest

from xene.api.errors import Invalid
from xene.api.meta import ObjectMeta
from xene.api.run import PipelineRun, PipelineRunSpec, PipelineRunStatus, RunPhase
from xene.apiserver.services.notifiers import (
    SIGNATURE_HEADER,
    NotifierHub,
    NotifierSettings,
)


def make_run(phase: RunPhase = RunPhase.SUCCEEDED) -> PipelineRun:
    return PipelineRun(
        metadata=ObjectMeta(name="hello.build.3"),
        spec=PipelineRunSpec(workflow="hello", pipeline="build", number=3),
        status=PipelineRunStatus(phase=phase),
    )


class Recorder:
    """Collects what the hub records as run events."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.changed = asyncio.Event()

    async def __call__(self, run: str, events: list[dict[str, Any]]) -> None:
        self.events.extend((run, event) for event in events)
        self.changed.set()

    async def wait_for(self, count: int) -> None:
        async with asyncio.timeout(5):
            while len(self.events) < count:
                self.changed.clear()
                await self.changed.wait()


def settings(url: str = "http://127.0.0.1:9/hook", **extra: Any) -> NotifierSettings:
    return NotifierSettings.model_validate(
        {"url": url, "retry_backoff_seconds": 0, "timeout_seconds": 0.3, **extra}
    )


async def test_delivers_wanted_events_signed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOOK_SECRET", "s3cret")
    received: list[httpx.Request] = []
    done = asyncio.Event()

    def handler(request: httpx.Request) -> httpx.Response:
        received.append(request)
        done.set()
        return httpx.Response(204)

    recorder = Recorder()
    hub = NotifierHub(
        [settings(events=["RunSucceeded"], secret_env="HOOK_SECRET")],
        recorder,
        transport=httpx.MockTransport(handler),
    )
    await hub.start()
    try:
        hub.publish(
            make_run(),
            [
                {"kind": "TaskStarted", "task": "a"},
                {"kind": "RunSucceeded", "run_id": "hello.build.3"},
            ],
        )
        async with asyncio.timeout(5):
            await done.wait()
    finally:
        await hub.close()
    assert len(received) == 1
    request = received[0]
    body = json.loads(request.content)
    assert body["event"] == "RunSucceeded"
    assert body["run"]["name"] == "hello.build.3"
    assert body["text"] == "hello/build #3: RunSucceeded"
    expected = hmac.new(b"s3cret", request.content, hashlib.sha256).hexdigest()
    assert request.headers[SIGNATURE_HEADER] == f"sha256={expected}"
    assert recorder.events == []


async def test_failing_receiver_is_retried_then_recorded() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(500)

    recorder = Recorder()
    hub = NotifierHub([settings(retries=2)], recorder, transport=httpx.MockTransport(handler))
    await hub.start()
    try:
        hub.publish(make_run(RunPhase.FAILED), [{"kind": "RunFailed", "message": "boom"}])
        await recorder.wait_for(1)
    finally:
        await hub.close()
    assert calls == 3
    run, event = recorder.events[0]
    assert run == "hello.build.3"
    assert event["kind"] == "NotifierFailed"
    assert event["event"] == "RunFailed"
    assert "HTTP 500" in event["message"] and "3 attempts" in event["message"]


async def test_hanging_receiver_never_blocks_publish() -> None:
    async def hang(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(3600)
        return httpx.Response(200)

    recorder = Recorder()
    hub = NotifierHub(
        [settings(retries=0, queue_size=2)], recorder, transport=httpx.MockTransport(hang)
    )
    await hub.start()
    try:
        started = time.monotonic()
        for _ in range(10):
            hub.publish(make_run(), [{"kind": "RunSucceeded"}])
        assert time.monotonic() - started < 0.1
        # The first delivery times out; the events the full queue could not take are recorded.
        await recorder.wait_for(2)
    finally:
        await hub.close()
    messages = [event["message"] for _, event in recorder.events]
    assert any("no answer within 0.3s" in m for m in messages)
    assert any("dropped" in m for m in messages)


async def test_refused_delivery_is_not_retried() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(404)

    recorder = Recorder()
    hub = NotifierHub([settings(retries=3)], recorder, transport=httpx.MockTransport(handler))
    await hub.start()
    try:
        hub.publish(make_run(), [{"kind": "RunSucceeded"}])
        await recorder.wait_for(1)
    finally:
        await hub.close()
    assert calls == 1


def test_publish_without_notifiers_is_a_no_op() -> None:
    hub = NotifierHub([], Recorder())
    hub.publish(make_run(), [{"kind": "RunSucceeded"}])


def test_settings_from_a_bare_url_and_masked_in_logs() -> None:
    parsed = NotifierSettings.model_validate("https://hooks.example.test/services/T0/B0/XYZ?t=1")
    assert parsed.url.startswith("https://hooks.example.test/services/")
    assert parsed.display_url == "https://hooks.example.test/services/..."
    assert "XYZ" not in repr(parsed)
    with pytest.raises(ValueError, match="not an http"):
        NotifierSettings.model_validate("ftp://example.test/x")


def test_missing_secret_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_SUCH_SECRET", raising=False)
    with pytest.raises(Invalid, match="NO_SUCH_SECRET"):
        NotifierHub([settings(secret_env="NO_SUCH_SECRET")], Recorder())
