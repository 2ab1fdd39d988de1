"""The compiled plan: what the engine runs, with durations, defaults and env resolved once."""

from __future__ import annotations

from typing import Any

import pytest

from xene.api.errors import Invalid
from xene.api.plan import RunPlan, compile_plan, step_name
from xene.api.workflow import PipelineSpec, StepSpec


def spec(tasks: dict[str, Any], **fields: Any) -> PipelineSpec:
    return PipelineSpec.model_validate({"tasks": tasks, **fields})


def test_durations_become_seconds_and_defaults_are_applied() -> None:
    plan = compile_plan(
        spec(
            {
                "build": {
                    "image": "busybox",
                    "timeout": "1h30m",
                    "retries": {"limit": 2, "backoff": "250ms"},
                    "resources": {"memory": "512Mi", "cpus": 1.5},
                    "steps": [{"name": "make", "run": "make", "timeout": "90s"}],
                },
                "test": {
                    "dependencies": ["build"],
                    "waitTimeout": "10m",
                    "allowFailure": True,
                    "steps": [{"name": "unit", "run": "make test", "allowFailure": True}],
                },
            },
            timeout="2h",
        )
    )
    assert plan.executor == "docker" and plan.timeoutSeconds == 7200
    build, test = plan.tasks["build"], plan.tasks["test"]
    assert (build.timeoutSeconds, build.retryLimit, build.retryBackoffSeconds) == (5400, 2, 0.25)
    assert (build.memoryBytes, build.cpus, build.image) == (512 * 1024**2, 1.5, "busybox")
    assert build.steps[0].timeoutSeconds == 90
    assert (test.retryLimit, test.retryBackoffSeconds, test.timeoutSeconds) == (0, 0.0, None)
    assert (test.waitTimeoutSeconds, test.allowFailure, test.dependencies) == (600, True, ["build"])
    assert test.steps[0].allowFailure
    assert plan.levels == [["build"], ["test"]]


def test_env_layers_are_merged_once_later_winning() -> None:
    plan = compile_plan(
        spec(
            {
                "t": {
                    "env": {"B": "task", "C": "task"},
                    "steps": [{"name": "s", "run": "env", "env": {"C": "step"}}],
                }
            },
            env={"A": "pipeline", "B": "pipeline"},
        )
    )
    task = plan.tasks["t"]
    assert task.env == {"A": "pipeline", "B": "task", "C": "task"}
    assert task.steps[0].env == {"A": "pipeline", "B": "task", "C": "step"}


def test_steps_without_a_name_are_named_by_position() -> None:
    assert step_name(StepSpec(name="", run="true"), 0) == "step-1"
    assert step_name(StepSpec(name="lint", run="true"), 4) == "lint"


def test_working_directories_under_a_shared_container() -> None:
    plan = compile_plan(
        spec(
            {
                "default": {"steps": [{"name": "s", "run": "pwd"}]},
                "relative": {"workingDir": "sub", "steps": [{"name": "s", "run": "pwd"}]},
                "absolute": {"workingDir": "/opt/tool", "steps": [{"name": "s", "run": "pwd"}]},
            },
            sharedContainer={
                "image": "debian:12",
                "workingDir": "/src",
                "env": {"LANG": "C"},
                "resources": {"memory": "1Gi"},
            },
        )
    )
    shared = plan.sharedContainer
    assert shared is not None
    assert (shared.image, shared.workingDir, shared.memoryBytes) == ("debian:12", "/src", 1024**3)
    assert shared.env == {"LANG": "C"}
    # Its env reaches every step too, below the pipeline's, task's and step's own.
    assert all(task.steps[0].env["LANG"] == "C" for task in plan.tasks.values())
    dirs = {name: task.workingDir for name, task in plan.tasks.items()}
    assert dirs == {"default": "/src", "relative": "/src/sub", "absolute": "/opt/tool"}


def test_without_a_shared_container_working_directories_stay_as_written() -> None:
    plan = compile_plan(
        spec(
            {
                "a": {"workingDir": "sub", "steps": [{"name": "s", "run": "pwd"}]},
                "b": {"workingDir": "/abs", "steps": [{"name": "s", "run": "pwd"}]},
                "c": {"steps": [{"name": "s", "run": "pwd"}]},
            },
            executor="process",
        )
    )
    assert [task.workingDir for task in plan.tasks.values()] == ["sub", "/abs", None]
    assert plan.executor == "process" and plan.sharedContainer is None


def test_the_plan_travels_as_json_and_reads_back_the_same() -> None:
    plan = compile_plan(spec({"t": {"timeout": "5s", "steps": [{"name": "s", "run": "true"}]}}))
    data = plan.model_dump_json(exclude_none=True)
    assert RunPlan.model_validate_json(data) == plan


def test_a_graph_with_a_cycle_does_not_compile() -> None:
    with pytest.raises(Invalid, match="dependency cycle a -> b -> a"):
        compile_plan(
            spec(
                {
                    "a": {"dependencies": ["b"], "steps": [{"name": "s", "run": "true"}]},
                    "b": {"dependencies": ["a"], "steps": [{"name": "s", "run": "true"}]},
                }
            )
        )
