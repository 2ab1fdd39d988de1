"""describe shows the execution settings of issue 9: a pipeline's timeout and shared container,
a task's waitTimeout and allowFailure, and how a run ended by them."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from xene.ctl.describe import describe

NOW = datetime(2030, 1, 1, tzinfo=UTC)


def test_describe_pipeline_shows_its_timeout_and_shared_container() -> None:
    pipeline = {
        "metadata": {"name": "app.build"},
        "spec": {
            "workflow": "app",
            "pipeline": "build",
            "timeout": "30m",
            "sharedContainer": {"image": "debian:12", "workingDir": "/src"},
            "tasks": {
                "deps": {"steps": [{"name": "apt", "run": "apt-get install -y make"}]},
                "make": {
                    "dependencies": ["deps"],
                    "workingDir": "/src/app",
                    "waitTimeout": "10m",
                    "allowFailure": True,
                    "steps": [{"name": "make", "run": "make"}],
                },
            },
        },
    }
    text = describe("pipelines", pipeline, NOW).render_plain()
    assert re.search(r"^Timeout:\s+30m$", text, re.M)
    assert re.search(
        r"^Shared Container:\n  Image:\s+debian:12\n  Working Dir:\s+/src$", text, re.M
    )
    assert "(executor default)" not in text  # tasks take the shared container's image
    assert re.search(r"^    Working Dir:\s+/src/app$", text, re.M)
    assert re.search(r"^    Wait Timeout:\s+10m$", text, re.M)
    assert re.search(r"^    Allow Failure:\s+yes \(the run does not fail for it\)$", text, re.M)


def test_describe_run_shows_why_it_ended_and_which_failures_were_allowed() -> None:
    run = {
        "metadata": {"name": "app.build.4", "labels": {"xene.dev/pipeline": "app.build"}},
        "spec": {"workflow": "app", "pipeline": "build", "number": 4},
        "status": {
            "phase": "Failed",
            "message": "pipeline timeout 30m exceeded",
            "tasks": {
                "lint": {"name": "lint", "phase": "Failed", "allowFailure": True},
                "make": {
                    "name": "make",
                    "phase": "Cancelled",
                    "message": "pipeline timeout 30m exceeded",
                },
                "test": {
                    "name": "test",
                    "phase": "Failed",
                    "message": "dependencies not finished within 10m",
                },
            },
        },
    }
    text = describe("pipelineruns", run, NOW).render_plain()
    assert re.search(r"^  Message:\s+pipeline timeout 30m exceeded$", text, re.M)
    assert re.search(r"^  lint:\n    Phase:\s+Failed\n    Allow Failure:\s+yes$", text, re.M)
    assert re.search(r"^    Message:\s+dependencies not finished within 10m$", text, re.M)
