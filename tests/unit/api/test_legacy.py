"""Xene's original v1alpha1 manifests: converted on apply, errors named as the user wrote them."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from tests.unit.api.manifests import LEGACY, problems
from xene.api.documents import parse_documents
from xene.api.errors import Invalid
from xene.api.legacy import (
    CONVERSION_NOTES_ANNOTATION,
    CONVERTED_FROM_ANNOTATION,
    DESCRIPTION_ANNOTATION,
    convert_legacy,
    is_legacy,
    webhook_secret_env,
)
from xene.api.validation import validate_object, validate_workflow


def _legacy() -> dict[str, Any]:
    [document] = parse_documents(LEGACY, "legacy.yaml")
    return document


def test_a_legacy_manifest_converts_to_the_v1_form() -> None:
    conversion = convert_legacy(_legacy())
    assert conversion.document == {
        "apiVersion": "xene.dev/v1",
        "kind": "Workflow",
        "metadata": {
            "name": "hello",
            "annotations": {
                CONVERTED_FROM_ANNOTATION: "v1alpha1",
                DESCRIPTION_ANNOTATION: "Says hello",
                CONVERSION_NOTES_ANNOTATION: (
                    "webhook trigger 'on-push' reads its HMAC secret from the apiserver's "
                    "environment variable XENE_WEBHOOK_SECRET_HELLO_ON_PUSH"
                ),
            },
        },
        "spec": {
            "triggers": [
                {"name": "every-minute", "type": "cron", "schedule": "* * * * *"},
                {
                    "name": "on-push",
                    "type": "webhook",
                    "description": "Pushes to main",
                    "secretEnv": "XENE_WEBHOOK_SECRET_HELLO_ON_PUSH",
                },
            ],
            "pipelines": {
                "build": {
                    "description": "Fetch, then test",
                    "triggers": ["every-minute"],
                    "executor": "docker",
                    "tasks": {
                        "checkout": {
                            "description": "Get the sources",
                            "workingDir": "/workspace",
                            "dependencies": [],
                            "image": "busybox:latest",
                            "steps": [{"name": "fetch", "run": "echo hi > src.txt"}],
                        },
                        "test": {
                            "image": "alpine:3.20",
                            "dependencies": ["checkout"],
                            "steps": [{"name": "unit", "run": "cat src.txt"}],
                        },
                    },
                },
                "deploy": {
                    "triggers": ["on-push"],
                    "executor": "docker",
                    "tasks": {
                        "ship": {
                            "image": "busybox:latest",
                            "steps": [{"name": "ship", "run": "echo shipped"}],
                        }
                    },
                },
            },
        },
    }
    assert conversion.notes == [
        "webhook trigger 'on-push' reads its HMAC secret from the apiserver's environment "
        "variable XENE_WEBHOOK_SECRET_HELLO_ON_PUSH"
    ]


def test_a_legacy_manifest_applies_and_round_trips_through_v1() -> None:
    legacy = _legacy()
    untouched = copy.deepcopy(legacy)
    workflow = validate_object(legacy)
    assert legacy == untouched  # the submitted document is not changed in place
    assert workflow.spec.pipelines["build"].tasks["test"].image == "alpine:3.20"
    assert workflow.metadata.annotations[DESCRIPTION_ANNOTATION] == "Says hello"
    # What the server stores and serves is plain v1 and applies again as it is.
    served = json.loads(json.dumps(workflow.to_dict()))
    assert served["apiVersion"] == "xene.dev/v1"
    assert validate_object(served) == workflow


def test_legacy_json_works_too() -> None:
    text = json.dumps(_legacy())
    [document] = parse_documents(text, "legacy.json")
    assert is_legacy(document)
    assert validate_workflow(document).spec.pipelines["deploy"].triggers == ["on-push"]


def test_a_null_trigger_means_the_pipeline_runs_by_hand() -> None:
    document = {
        "kind": "Workflow",
        "apiVersion": "v1alpha1",
        "metadata": {"name": "temp-workflow", "description": "A test temporary workflow"},
        "spec": {
            "triggers": {"temp-trigger": {"type": "null"}},
            "pipelines": {
                "temp-pipeline": {
                    "trigger": "temp-trigger",
                    "executor": {"type": "container", "containerConfig": {"image": "busybox"}},
                    "tasks": {"t": {"steps": [{"name": "s", "type": "shell", "cmd": "true"}]}},
                }
            },
        },
    }
    workflow = validate_workflow(document)
    assert workflow.spec.triggers == []
    assert workflow.spec.pipelines["temp-pipeline"].triggers == []
    assert workflow.metadata.annotations[CONVERSION_NOTES_ANNOTATION] == (
        "trigger 'temp-trigger' (type null) was dropped: its pipelines run when started by hand"
    )


def test_steps_written_as_a_mapping_convert_in_order() -> None:
    document = _legacy()
    document["spec"]["pipelines"]["build"]["tasks"]["checkout"]["steps"] = {
        "fetch": {"type": "shell", "cmd": "echo one"},
        "list": {"cmd": "ls"},
    }
    workflow = validate_workflow(document)
    steps = workflow.spec.pipelines["build"].tasks["checkout"].steps
    assert [(s.name, s.run) for s in steps] == [("fetch", "echo one"), ("list", "ls")]


def test_webhook_secret_variable_names_are_upper_snake_case() -> None:
    assert webhook_secret_env("hello", "on-push") == "XENE_WEBHOOK_SECRET_HELLO_ON_PUSH"
    assert webhook_secret_env("my-ci.v2", "git--push") == "XENE_WEBHOOK_SECRET_MY_CI_V2_GIT_PUSH"


LegacyCase = tuple[str, Any, list[str]]


def _at(document: dict[str, Any], path: list[Any]) -> Any:
    for key in path:
        document = document[key]
    return document


BUILD = ["spec", "pipelines", "build"]

STRUCTURE_CASES: dict[str, tuple[list[Any], str, Any, list[str]]] = {
    "unknown top-level field": (
        [],
        "extra",
        1,
        ["extra: unknown field 'extra' (v1alpha1 knows apiVersion, kind, metadata, spec, status)"],
    ),
    "unknown trigger field": (
        ["spec", "triggers", "every-minute"],
        "schedule",
        "* * * * *",
        [
            "spec.triggers.every-minute.schedule: unknown field 'schedule' (v1alpha1 knows "
            "type, description, cronConfig)"
        ],
    ),
    "unknown cronConfig field": (
        ["spec", "triggers", "every-minute", "cronConfig"],
        "seconds",
        0,
        [
            "spec.triggers.every-minute.cronConfig.seconds: unknown field 'seconds' (v1alpha1 "
            "knows schedule, timezone)"
        ],
    ),
    "unknown trigger type": (
        ["spec", "triggers", "every-minute"],
        "type",
        "github",
        [
            "spec.triggers.every-minute.type: unknown trigger type 'github': v1alpha1 knows "
            "cron, webhook and null"
        ],
    ),
    "cronConfig on a webhook": (
        ["spec", "triggers", "on-push"],
        "cronConfig",
        {"schedule": "* * * * *"},
        ["spec.triggers.on-push.cronConfig: applies only to cron triggers"],
    ),
    "unknown pipeline field": (
        BUILD,
        "triggers",
        ["every-minute"],
        [
            "spec.pipelines.build.triggers: unknown field 'triggers' (v1alpha1 knows "
            "description, trigger, executor, tasks)"
        ],
    ),
    "unknown executor type": (
        [*BUILD, "executor"],
        "type",
        "vm",
        [
            "spec.pipelines.build.executor.type: unknown executor type 'vm': v1alpha1 knows "
            "'container'"
        ],
    ),
    "unknown task field": (
        [*BUILD, "tasks", "checkout"],
        "env",
        {"A": "1"},
        [
            "spec.pipelines.build.tasks.checkout.env: unknown field 'env' (v1alpha1 knows "
            "description, image, workingDir, dependencies, steps)"
        ],
    ),
    "triggers as a list": (
        ["spec"],
        "triggers",
        [{"name": "x"}],
        ["spec.triggers: expected a mapping of trigger names to triggers, got a list"],
    ),
}


@pytest.mark.parametrize("case", list(STRUCTURE_CASES))
def test_legacy_structure_errors_name_legacy_paths(case: str) -> None:
    path, key, value, expected = STRUCTURE_CASES[case]
    document = _legacy()
    _at(document, path)[key] = value
    assert problems(document) == expected


def test_step_problems_in_legacy_terms() -> None:
    document = _legacy()
    steps = _at(document, [*BUILD, "tasks", "checkout", "steps"])
    steps[0] = {"name": "fetch", "type": "docker", "command": "x"}
    assert problems(document) == [
        "spec.pipelines.build.tasks.checkout.steps[0].command: unknown field 'command' "
        "(v1alpha1 knows name, type, cmd, description)",
        "spec.pipelines.build.tasks.checkout.steps[0].type: unknown step type 'docker': "
        "v1alpha1 steps are 'shell'",
        "spec.pipelines.build.tasks.checkout.steps[0].cmd: required",
    ]


def test_v1_checks_on_converted_manifests_name_legacy_paths() -> None:
    document = _legacy()
    document["metadata"]["name"] = "Hello"
    document["spec"]["triggers"]["every-minute"]["cronConfig"]["schedule"] = "* * * * * *"
    _at(document, BUILD)["trigger"] = "every-minit"
    _at(document, [*BUILD, "executor", "containerConfig"])["image"] = "busy box"
    _at(document, [*BUILD, "tasks", "test"])["dependencies"] = ["chekout"]
    _at(document, [*BUILD, "tasks", "test", "steps", 0])["cmd"] = " "
    assert problems(document) == [
        "metadata.name: 'Hello' is not a valid name: use lower-case letters, digits and '-', "
        "starting and ending with a letter or digit",
        "spec.triggers.every-minute.cronConfig.schedule: '* * * * * *' has 6 fields: Xene "
        "schedules have 5 (minute hour day-of-month month day-of-week); seconds and years are "
        "not supported",
        "spec.pipelines.build.trigger: unknown trigger 'every-minit': did you mean 'every-minute'?",
        "spec.pipelines.build.executor.containerConfig.image: 'busy box' is not an image "
        "reference such as busybox:latest",
        "spec.pipelines.build.tasks.test.dependencies[0]: unknown task 'chekout': did you mean "
        "'checkout'?",
        "spec.pipelines.build.tasks.test.steps[0].cmd: must not be empty: the command to run",
    ]


def test_a_legacy_task_without_any_image() -> None:
    document = _legacy()
    del _at(document, BUILD)["executor"]
    assert problems(document) == [
        "spec.pipelines.build.tasks.checkout.image: required with the docker executor: the "
        "image the steps run in, e.g. busybox:latest"
    ]


def test_kind_must_be_workflow() -> None:
    document = _legacy()
    document["kind"] = "Pipeline"
    assert problems(document) == ["kind: v1alpha1 manifests are Workflows, got 'Pipeline'"]
    document["kind"] = "workflow"  # the lower-case spelling of early manifests is accepted
    assert validate_object(document).kind == "Workflow"


def test_legacy_conversion_maps_paths_back() -> None:
    conversion = convert_legacy(_legacy())
    assert conversion.legacy_path("spec.triggers[1].secretEnv") == "spec.triggers.on-push.secretEnv"
    assert conversion.legacy_path("spec.triggers[0].schedule") == (
        "spec.triggers.every-minute.cronConfig.schedule"
    )
    assert conversion.legacy_path("spec.pipelines.build.triggers[0]") == (
        "spec.pipelines.build.trigger"
    )
    assert conversion.legacy_path("metadata.name") == "metadata.name"


def test_invalid_legacy_input_raises_invalid() -> None:
    with pytest.raises(Invalid):
        validate_object({"apiVersion": "v1alpha1", "kind": "Workflow", "metadata": [], "spec": 1})
