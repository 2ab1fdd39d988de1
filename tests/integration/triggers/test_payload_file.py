"""A webhook payload reaches steps as a workspace file, through real host processes."""

from __future__ import annotations

import json
from pathlib import Path

from tests.unit.engine.fakes import RecordingObserver, pipeline
from xene.api.run import RunPhase
from xene.engine import PipelineRunner
from xene.engine.executors.process import ProcessExecutor
from xene.engine.runner import PAYLOAD_FILE

# A payload that would run code if it were ever pasted into a command line.
HOSTILE = json.dumps({"title": "$(touch pwned) `touch pwned2` ; touch pwned3", "n": 1})


def _output(observer: RecordingObserver, task: str) -> list[str]:
    return [line.line for line in observer.lines if line.task == task]


async def test_every_task_reads_the_payload_file_and_nothing_runs_from_it(
    tmp_path: Path,
) -> None:
    observer = RecordingObserver()
    spec = {
        "a": {"steps": [{"name": "read", "run": 'cat "$XENE_PAYLOAD_FILE"; echo; ls -A'}]},
        "b": {"steps": [{"name": "read", "run": "cat .xene/payload.json"}]},
        "c": {"dependencies": ["a"], "steps": [{"name": "read", "run": "cat .xene/payload.json"}]},
    }
    runner = PipelineRunner(
        pipeline(spec),
        ProcessExecutor(tmp_path / "workspaces"),
        run_id="hook.build.1",
        observers=[observer],
        payload=HOSTILE,
    )
    status = await runner.run()
    assert status.phase is RunPhase.SUCCEEDED, status
    for task in ("a", "b", "c"):
        assert HOSTILE in _output(observer, task)
    listing = [line for line in _output(observer, "a") if line and line != HOSTILE]
    assert listing == [".xene"]  # no file made by the payload's text
    assert PAYLOAD_FILE == ".xene/payload.json"


async def test_without_payload_there_is_no_file(tmp_path: Path) -> None:
    observer = RecordingObserver()
    spec = {
        "a": {
            "steps": [{"name": "s", "run": 'test ! -e .xene && echo "${XENE_PAYLOAD_FILE:-none}"'}]
        }
    }
    runner = PipelineRunner(
        pipeline(spec), ProcessExecutor(tmp_path / "ws"), run_id="x.y.1", observers=[observer]
    )
    status = await runner.run()
    assert status.phase is RunPhase.SUCCEEDED
    assert _output(observer, "a") == ["none"]
