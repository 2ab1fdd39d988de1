"""Workflow validation: each check names the field path and says what is wrong."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.unit.api.manifests import problems, workflow_document
from xene.api.errors import Invalid
from xene.api.validation import (
    cron_schedule_problem,
    executor_problem,
    timezone_problem,
    validate_object,
    validate_workflow,
)
from xene.api.workflow import Workflow

Document = dict[str, Any]


def _build(document: Document) -> Document:
    return document["spec"]["pipelines"]["build"]


def _task(document: Document, name: str) -> Document:
    return _build(document)["tasks"][name]


def _step(document: Document, task: str = "checkout", index: int = 0) -> Document:
    return _task(document, task)["steps"][index]


def _trigger(document: Document, index: int) -> Document:
    return document["spec"]["triggers"][index]


def test_a_valid_workflow_becomes_a_typed_object() -> None:
    workflow = validate_object(workflow_document())
    assert isinstance(workflow, Workflow)
    assert workflow.metadata.name == "hello"
    build = workflow.spec.pipelines["build"]
    assert build.executor == "docker"
    assert build.tasks["test"].dependencies == ["checkout"]
    assert [t.name for t in workflow.spec.triggers] == ["every-5-min", "on-push"]


def test_all_problems_are_reported_at_once_in_document_order() -> None:
    document = workflow_document()
    document["metadata"]["name"] = "Hello"
    _task(document, "test")["dependencies"] = ["chekout"]
    _step(document)["run"] = ["echo"]
    _trigger(document, 0)["schedule"] = "* * *"
    assert problems(document) == [
        "metadata.name: 'Hello' is not a valid name: use lower-case letters, digits and '-', "
        "starting and ending with a letter or digit",
        "spec.triggers[0].schedule: '* * *' has 3 fields: a cron schedule has 5 "
        "(minute hour day-of-month month day-of-week)",
        "spec.pipelines.build.tasks.checkout.steps[0].run: expected a string, got a list",
        "spec.pipelines.build.tasks.test.dependencies[0]: unknown task 'chekout': "
        "did you mean 'checkout'?",
    ]


Mutation = Callable[[Document], None]


def _set(path: list[Any], value: Any) -> Mutation:
    def mutate(document: Document) -> None:
        target = document
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return mutate


def _delete(path: list[Any]) -> Mutation:
    def mutate(document: Document) -> None:
        target = document
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]

    return mutate


def _append(path: list[Any], value: Any) -> Mutation:
    def mutate(document: Document) -> None:
        target = document
        for key in path:
            target = target[key]
        target.append(value)

    return mutate


BUILD = ["spec", "pipelines", "build"]
CHECKOUT = [*BUILD, "tasks", "checkout"]
TEST = [*BUILD, "tasks", "test"]
CRON = ["spec", "triggers", 0]
WEBHOOK = ["spec", "triggers", 1]
CHECKOUT_PATH = "spec.pipelines.build.tasks.checkout"
TEST_PATH = "spec.pipelines.build.tasks.test"

CASES: dict[str, tuple[list[Mutation], list[str]]] = {
    # -- header and metadata
    "missing metadata": ([_delete(["metadata"])], ["metadata: required"]),
    "missing name": ([_delete(["metadata", "name"])], ["metadata.name: required"]),
    "name with capitals": (
        [_set(["metadata", "name"], "Hello_World")],
        [
            "metadata.name: 'Hello_World' is not a valid name: use lower-case letters, digits "
            "and '-', starting and ending with a letter or digit"
        ],
    ),
    "name too long": (
        [_set(["metadata", "name"], "a" * 64)],
        ["metadata.name: must be at most 63 characters (got 64)"],
    ),
    "unknown metadata field": (
        [_set(["metadata", "nmae"], "x")],
        ["metadata.nmae: unknown field 'nmae': did you mean 'name'?"],
    ),
    "label value with a space": (
        [_set(["metadata", "labels", "team"], "c i")],
        [
            "metadata.labels.team: 'c i' is not a valid label value: use at most 63 letters, "
            "digits, '-', '_' and '.', starting and ending with a letter or digit"
        ],
    ),
    "label key with a bad character": (
        [_set(["metadata", "labels", "team!"], "ci")],
        [
            "metadata.labels[\"team!\"]: 'team!' is not a valid key: use at most 63 letters, "
            "digits, '-', '_' and '.', starting and ending with a letter or digit, with an "
            "optional 'prefix/'"
        ],
    ),
    "label key with a bad prefix": (
        [_set(["metadata", "labels", "Example.COM/team"], "ci")],
        [
            "metadata.labels[\"Example.COM/team\"]: 'Example.COM/team' is not a valid key: the "
            "prefix before '/' must be a DNS subdomain such as example.com"
        ],
    ),
    "label value that is a number": (
        [_set(["metadata", "labels", "tier"], 1)],
        ["metadata.labels.tier: expected a string, got an integer (1): put it in quotes"],
    ),
    "annotation key with spaces": (
        [_set(["metadata", "annotations"], {"a b": "x"})],
        [
            "metadata.annotations[\"a b\"]: 'a b' is not a valid key: use at most 63 letters, "
            "digits, '-', '_' and '.', starting and ending with a letter or digit, with an "
            "optional 'prefix/'"
        ],
    ),
    "annotations too large": (
        [_set(["metadata", "annotations"], {"big": "x" * (256 * 1024)})],
        ["metadata.annotations: annotations total 262147 bytes, more than the limit of 262144"],
    ),
    "unknown top-level field": (
        [_set(["sepc"], {})],
        ["sepc: unknown field 'sepc': did you mean 'spec'?"],
    ),
    "missing spec": ([_delete(["spec"])], ["spec: required"]),
    "no pipelines": (
        [_set(["spec", "pipelines"], {})],
        ["spec.pipelines: must not be empty"],
    ),
    "pipelines as a list": (
        [_set(["spec", "pipelines"], [])],
        ["spec.pipelines: expected a mapping, got a list"],
    ),
    # -- triggers
    "trigger name not a DNS label": (
        [_set([*CRON, "name"], "Every_5")],
        [
            "spec.triggers[0].name: 'Every_5' is not a valid name: use lower-case letters, "
            "digits and '-', starting and ending with a letter or digit",
            "spec.pipelines.build.triggers[0]: unknown trigger 'every-5-min' (define it in "
            "spec.triggers)",
        ],
    ),
    "duplicate trigger names": (
        [_set([*WEBHOOK, "name"], "every-5-min")],
        [
            "spec.triggers[1].name: duplicate trigger name 'every-5-min' (also spec.triggers[0])",
            "spec.pipelines.build.triggers[1]: unknown trigger 'on-push' (define it in "
            "spec.triggers)",
            "spec.pipelines.lint.triggers[0]: unknown trigger 'on-push' (define it in "
            "spec.triggers)",
        ],
    ),
    "unknown trigger type": (
        [_set([*CRON, "type"], "crn")],
        ["spec.triggers[0].type: must be 'cron' or 'webhook', got 'crn': did you mean 'cron'?"],
    ),
    "trigger without a type": (
        [_delete([*CRON, "type"])],
        ["spec.triggers[0].type: required"],
    ),
    "pipeline names an undefined trigger": (
        [_set([*BUILD, "triggers"], ["every-5-min", "on-pussh"])],
        ["spec.pipelines.build.triggers[1]: unknown trigger 'on-pussh': did you mean 'on-push'?"],
    ),
    "pipeline names a trigger twice": (
        [_set([*BUILD, "triggers"], ["on-push", "on-push"])],
        ["spec.pipelines.build.triggers[1]: duplicate trigger 'on-push' (also triggers[0])"],
    ),
    "cron without schedule": (
        [_delete([*CRON, "schedule"])],
        ["spec.triggers[0].schedule: required for a cron trigger, e.g. '*/5 * * * *' or '@hourly'"],
    ),
    "cron with an out-of-range field": (
        [_set([*CRON, "schedule"], "61 * * * *")],
        [
            "spec.triggers[0].schedule: '61 * * * *' is not a valid cron schedule "
            "([61 * * * *] is not acceptable, out of range)"
        ],
    ),
    "cron with seconds": (
        [_set([*CRON, "schedule"], "*/10 * * * * *")],
        [
            "spec.triggers[0].schedule: '*/10 * * * * *' has 6 fields: Xene schedules have 5 "
            "(minute hour day-of-month month day-of-week); seconds and years are not supported"
        ],
    ),
    "cron with seconds and years": (
        [_set([*CRON, "schedule"], "0 0 12 * * ? 2030")],
        [
            "spec.triggers[0].schedule: '0 0 12 * * ? 2030' has 7 fields: Xene schedules have 5 "
            "(minute hour day-of-month month day-of-week); seconds and years are not supported"
        ],
    ),
    "cron that never fires": (
        [_set([*CRON, "schedule"], "0 0 30 2 *")],
        ["spec.triggers[0].schedule: '0 0 30 2 *' never fires: no date matches it"],
    ),
    "cron with an unknown macro": (
        [_set([*CRON, "schedule"], "@hourlly")],
        ["spec.triggers[0].schedule: unknown macro '@hourlly': did you mean '@hourly'?"],
    ),
    "cron @reboot": (
        [_set([*CRON, "schedule"], "@reboot")],
        [
            "spec.triggers[0].schedule: unknown macro '@reboot' (known macros are @yearly, "
            "@annually, @monthly, @weekly, @daily, @midnight, @hourly)"
        ],
    ),
    "cron with a bad time zone": (
        [_set([*CRON, "timezone"], "Europe/Pariss")],
        [
            "spec.triggers[0].timezone: unknown time zone 'Europe/Pariss': did you mean "
            "'Europe/Paris'?"
        ],
    ),
    "cron with a secret": (
        [_set([*CRON, "secretEnv"], "SECRET")],
        ["spec.triggers[0].secretEnv: only webhook triggers take a secret; remove it"],
    ),
    "cron with a zero starting deadline": (
        [_set([*CRON, "startingDeadline"], "0s")],
        ["spec.triggers[0].startingDeadline: must be longer than zero"],
    ),
    "cron with a bad starting deadline": (
        [_set([*CRON, "startingDeadline"], "soon")],
        [
            "spec.triggers[0].startingDeadline: 'soon' is not a duration: use a number with a "
            "unit, e.g. 30s, 10m, 1h30m"
        ],
    ),
    "unknown concurrency policy": (
        [_set([*CRON, "concurrencyPolicy"], "forbid")],
        [
            "spec.triggers[0].concurrencyPolicy: must be 'Allow', 'Forbid' or 'Replace', got "
            "'forbid': did you mean 'Forbid'?"
        ],
    ),
    "webhook without a secret": (
        [_delete([*WEBHOOK, "secretEnv"])],
        [
            "spec.triggers[1]: a webhook trigger needs a secret to check signatures: set "
            "secretEnv (an environment variable of the apiserver) or secretFile (a file it reads)"
        ],
    ),
    "webhook with both secrets": (
        [_set([*WEBHOOK, "secretFile"], "/etc/xene/secret")],
        ["spec.triggers[1]: set only one of secretEnv and secretFile"],
    ),
    "webhook with a relative secret file": (
        [_delete([*WEBHOOK, "secretEnv"]), _set([*WEBHOOK, "secretFile"], "secret.txt")],
        [
            "spec.triggers[1].secretFile: 'secret.txt' is not an absolute path (the apiserver "
            "reads it)"
        ],
    ),
    "webhook secretEnv that is no variable name": (
        [_set([*WEBHOOK, "secretEnv"], "hello-secret")],
        [
            "spec.triggers[1].secretEnv: 'hello-secret' is not an environment variable name: "
            "use letters, digits and '_', not starting with a digit"
        ],
    ),
    "webhook with a schedule": (
        [_set([*WEBHOOK, "schedule"], "* * * * *")],
        [
            "spec.triggers[1].schedule: webhook triggers have no schedule: use a cron trigger "
            "for that"
        ],
    ),
    "webhook with a time zone": (
        [_set([*WEBHOOK, "timezone"], "UTC")],
        ["spec.triggers[1].timezone: applies only to cron triggers"],
    ),
    # -- pipelines
    "pipeline name not a DNS label": (
        [lambda d: d["spec"]["pipelines"].update(Build=d["spec"]["pipelines"].pop("lint"))],
        [
            "spec.pipelines.Build: 'Build' is not a valid name: use lower-case letters, digits "
            "and '-', starting and ending with a letter or digit"
        ],
    ),
    "unknown executor": (
        [_set([*BUILD, "executor"], "dokcer")],
        ["spec.pipelines.build.executor: unknown executor 'dokcer': did you mean 'docker'?"],
    ),
    "executor far from any": (
        [_set([*BUILD, "executor"], "kubernetes")],
        [
            "spec.pipelines.build.executor: unknown executor 'kubernetes' (use docker, process "
            "or external:<provider>)"
        ],
    ),
    "external executor without a provider": (
        [_set([*BUILD, "executor"], "external:")],
        ["spec.pipelines.build.executor: the provider of 'external:' must not be empty"],
    ),
    "agent selector with a bad value": (
        [_set([*BUILD, "agentSelector"], {"os": "linux/amd64"})],
        [
            "spec.pipelines.build.agentSelector.os: 'linux/amd64' is not a valid label value: "
            "use at most 63 letters, digits, '-', '_' and '.', starting and ending with a letter "
            "or digit"
        ],
    ),
    "pipeline env name": (
        [_set([*BUILD, "env"], {"1ST": "x"})],
        [
            "spec.pipelines.build.env.1ST: '1ST' is not an environment variable name: use "
            "letters, digits and '_', not starting with a digit"
        ],
    ),
    "pipeline without tasks": (
        [_set([*BUILD, "tasks"], {})],
        ["spec.pipelines.build.tasks: must not be empty"],
    ),
    # -- tasks
    "task name not a DNS label": (
        [lambda d: _build(d)["tasks"].update(Lint_All=_build(d)["tasks"].pop("test"))],
        [
            "spec.pipelines.build.tasks.Lint_All: 'Lint_All' is not a valid name: use "
            "lower-case letters, digits and '-', starting and ending with a letter or digit"
        ],
    ),
    "unknown task field": (
        [_set([*CHECKOUT, "imgae"], "busybox")],
        [f"{CHECKOUT_PATH}.imgae: unknown field 'imgae': did you mean 'image'?"],
    ),
    "unknown dependency": (
        [_set([*TEST, "dependencies"], ["chekout"])],
        [f"{TEST_PATH}.dependencies[0]: unknown task 'chekout': did you mean 'checkout'?"],
    ),
    "unknown dependency with nothing close": (
        [_set([*TEST, "dependencies"], ["deploy"])],
        [f"{TEST_PATH}.dependencies[0]: unknown task 'deploy'"],
    ),
    "task depends on itself": (
        [_set([*TEST, "dependencies"], ["checkout", "test"])],
        [f"{TEST_PATH}.dependencies[1]: task 'test' depends on itself"],
    ),
    "duplicate dependency": (
        [_set([*TEST, "dependencies"], ["checkout", "checkout"])],
        [f"{TEST_PATH}.dependencies[1]: duplicate dependency 'checkout' (also dependencies[0])"],
    ),
    "two-task cycle": (
        [_set([*CHECKOUT, "dependencies"], ["test"])],
        ["spec.pipelines.build.tasks: dependency cycle checkout -> test -> checkout"],
    ),
    "docker task without an image": (
        [_delete([*CHECKOUT, "image"])],
        [
            f"{CHECKOUT_PATH}.image: required with the docker executor: the image the steps run "
            "in, e.g. busybox:latest"
        ],
    ),
    "image with a space": (
        [_set([*CHECKOUT, "image"], "busybox latest")],
        [
            f"{CHECKOUT_PATH}.image: 'busybox latest' is not an image reference such as "
            "busybox:latest"
        ],
    ),
    "task timeout that is no duration": (
        [_set([*TEST, "timeout"], "ten minutes")],
        [
            f"{TEST_PATH}.timeout: 'ten minutes' is not a duration: use a number with a unit, "
            "e.g. 30s, 10m, 1h30m"
        ],
    ),
    "task timeout of zero": (
        [_set([*TEST, "timeout"], "0m")],
        [f"{TEST_PATH}.timeout: must be longer than zero"],
    ),
    "retry backoff that is no duration": (
        [_set([*TEST, "retries", "backoff"], "5x")],
        [
            f"{TEST_PATH}.retries.backoff: '5x' is not a duration: use a number with a unit, "
            "e.g. 30s, 10m, 1h30m"
        ],
    ),
    "too many retries": (
        [_set([*TEST, "retries", "limit"], 50)],
        [f"{TEST_PATH}.retries.limit: must be at most 20"],
    ),
    "retry limit that is a list": (
        [_set([*TEST, "retries", "limit"], [2])],
        [f"{TEST_PATH}.retries.limit: expected an integer, got a list"],
    ),
    "memory that is no size": (
        [_set([*TEST, "resources"], {"memory": "lots"})],
        [f"{TEST_PATH}.resources.memory: 'lots' is not a memory size: use e.g. 256Mi, 1Gi, 512m"],
    ),
    "memory too large to be a number": (
        [_set([*TEST, "resources"], {"memory": "1e999"})],
        [f"{TEST_PATH}.resources.memory: '1e999' is not a memory size: use e.g. 256Mi, 1Gi, 512m"],
    ),
    "negative cpus": (
        [_set([*TEST, "resources"], {"cpus": -1})],
        [f"{TEST_PATH}.resources.cpus: must be greater than 0"],
    ),
    "task without steps": (
        [_set([*TEST, "steps"], [])],
        [f"{TEST_PATH}.steps: must not be empty"],
    ),
    "task that is a list": (
        [_set([*TEST], [])],
        [f"{TEST_PATH}: expected a mapping, got a list"],
    ),
    # -- steps
    "step name not a DNS label": (
        [_set([*CHECKOUT, "steps", 0, "name"], "Fetch Sources")],
        [
            f"{CHECKOUT_PATH}.steps[0].name: 'Fetch Sources' is not a valid name: use "
            "lower-case letters, digits and '-', starting and ending with a letter or digit"
        ],
    ),
    "duplicate step names": (
        [_append([*CHECKOUT, "steps"], {"name": "fetch", "run": "true"})],
        [f"{CHECKOUT_PATH}.steps[1].name: duplicate step name 'fetch' (also steps[0])"],
    ),
    "empty run": (
        [_set([*CHECKOUT, "steps", 0, "run"], "  \n")],
        [f"{CHECKOUT_PATH}.steps[0].run: must not be empty: the command to run"],
    ),
    "missing run": (
        [_delete([*CHECKOUT, "steps", 0, "run"])],
        [f"{CHECKOUT_PATH}.steps[0].run: required"],
    ),
    "run that is a number": (
        [_set([*CHECKOUT, "steps", 0, "run"], 42)],
        [f"{CHECKOUT_PATH}.steps[0].run: expected a string, got an integer (42): put it in quotes"],
    ),
    "allowFailure that is not a boolean": (
        [_set([*CHECKOUT, "steps", 0, "allowFailure"], "sometimes")],
        [f"{CHECKOUT_PATH}.steps[0].allowFailure: expected true or false, got 'sometimes'"],
    ),
    "step env value that is a number": (
        [_set([*CHECKOUT, "steps", 0, "env"], {"PORT": 8080})],
        [
            f"{CHECKOUT_PATH}.steps[0].env.PORT: expected a string, got an integer (8080): "
            "put it in quotes"
        ],
    ),
    "step env name": (
        [_set([*CHECKOUT, "steps", 0, "env"], {"MY-VAR": "x"})],
        [
            f"{CHECKOUT_PATH}.steps[0].env.MY-VAR: 'MY-VAR' is not an environment variable "
            "name: use letters, digits and '_', not starting with a digit"
        ],
    ),
    "step timeout": (
        [_set([*CHECKOUT, "steps", 0, "timeout"], "0s")],
        [f"{CHECKOUT_PATH}.steps[0].timeout: must be longer than zero"],
    ),
    "steps that is a mapping": (
        [_set([*CHECKOUT, "steps"], {"fetch": {"run": "true"}})],
        [f"{CHECKOUT_PATH}.steps: expected a list, got a mapping"],
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_each_check_names_the_path_and_the_problem(case: str) -> None:
    mutations, expected = CASES[case]
    document = workflow_document()
    for mutate in mutations:
        mutate(document)
    assert problems(document) == expected


def test_a_longer_cycle_is_reported_from_its_least_name() -> None:
    document = workflow_document()
    tasks = _build(document)["tasks"]
    for name, dependency in (("a", "b"), ("b", "c"), ("c", "a")):
        tasks[name] = {
            "image": "busybox",
            "dependencies": [dependency],
            "steps": [{"name": "s", "run": "true"}],
        }
    tasks["c"]["dependencies"] = ["a"]
    tasks["b"]["dependencies"] = ["c"]
    assert problems(document) == ["spec.pipelines.build.tasks: dependency cycle a -> b -> c -> a"]


def test_every_separate_cycle_is_reported() -> None:
    document = workflow_document()
    tasks = _build(document)["tasks"]
    step = [{"name": "s", "run": "true"}]
    tasks.update(
        {
            "x": {"image": "i", "dependencies": ["y"], "steps": step},
            "y": {"image": "i", "dependencies": ["x"], "steps": step},
        }
    )
    tasks["checkout"]["dependencies"] = ["test"]
    assert problems(document) == [
        "spec.pipelines.build.tasks: dependency cycle checkout -> test -> checkout",
        "spec.pipelines.build.tasks: dependency cycle x -> y -> x",
    ]


def test_process_and_external_executors_need_no_image() -> None:
    document = workflow_document()
    _build(document)["executor"] = "external:buildkite"
    for task in _build(document)["tasks"].values():
        del task["image"]
    workflow = validate_workflow(document)
    assert workflow.spec.pipelines["build"].executor == "external:buildkite"
    assert workflow.spec.pipelines["lint"].tasks["lint"].image is None


def test_cron_macros_and_time_zones_are_accepted() -> None:
    document = workflow_document()
    trigger = _trigger(document, 0)
    for macro in ("@hourly", "@daily", "@weekly", "@monthly", "@yearly", "@annually", "@midnight"):
        trigger["schedule"] = macro
        trigger["timezone"] = "Europe/Paris"
        assert validate_workflow(document).spec.triggers[0].schedule == macro


def test_server_managed_fields_from_get_output_are_ignored() -> None:
    document = workflow_document()
    document["metadata"].update(
        uid="0b7e4f5e-1c1a-4a57-9d5c-1f1f1f1f1f1f",
        resourceVersion="42",
        generation=3,
        creationTimestamp="2024-05-01T10:00:00Z",
    )
    document["status"] = {"observedGeneration": 3, "pipelines": ["hello.build"], "anything": 1}
    workflow = validate_workflow(document)
    assert workflow.metadata.uid is None
    assert workflow.metadata.resourceVersion is None
    assert workflow.metadata.generation is None
    assert workflow.metadata.creationTimestamp is None
    assert workflow.status.observedGeneration is None


def test_what_get_prints_applies_again_unchanged() -> None:
    workflow = validate_workflow(workflow_document())
    served = workflow.model_copy(deep=True)
    served.metadata.uid = "uid-1"
    served.metadata.resourceVersion = "7"
    served.metadata.generation = 2
    served.status.observedGeneration = 2
    again = validate_workflow(served.to_dict())
    assert again == workflow


def test_description_fields_are_accepted() -> None:
    document = workflow_document()
    _build(document)["description"] = "Fetch and test"
    _task(document, "test")["description"] = "Unit tests"
    _step(document)["description"] = "Fetch the sources"
    _trigger(document, 0)["description"] = "Every five minutes"
    workflow = validate_workflow(document)
    assert workflow.spec.pipelines["build"].description == "Fetch and test"
    assert workflow.spec.pipelines["build"].tasks["test"].description == "Unit tests"


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        (
            [],
            ["expected a mapping with apiVersion, kind, metadata and spec, got a list"],
        ),
        ({"kind": "Workflow"}, ["apiVersion: required: use 'xene.dev/v1'"]),
        (
            {"apiVersion": "xene.dev/v2", "kind": "Workflow"},
            [
                "apiVersion: unsupported apiVersion 'xene.dev/v2': use 'xene.dev/v1' (or "
                "'v1alpha1' for Xene's original manifests)"
            ],
        ),
        (
            {"apiVersion": "xene.dev/v1"},
            ["kind: required: the kind of object, e.g. Workflow"],
        ),
        (
            {"apiVersion": "xene.dev/v1", "kind": "Workflw"},
            ["kind: unknown kind 'Workflw': did you mean 'Workflow'?"],
        ),
        (
            {"apiVersion": "xene.dev/v1", "kind": "Deployment"},
            [
                "kind: unknown kind 'Deployment' (known kinds are Agent, Pipeline, PipelineRun, "
                "Trigger, Workflow; apply Workflows)"
            ],
        ),
        (
            {"apiVersion": "xene.dev/v1", "kind": ["Workflow"]},
            ["kind: expected a string such as Workflow, got a list"],
        ),
    ],
)
def test_documents_that_are_no_workflow(document: Any, expected: list[str]) -> None:
    assert problems(document) == expected


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        (
            "Pipeline",
            "the server derives them from Workflows: apply the Workflow that defines it",
        ),
        (
            "Trigger",
            "the server derives them from Workflows: apply the Workflow that defines it",
        ),
        ("Agent", "agents register themselves and the server keeps them"),
        ("PipelineRun", "triggers and `xenectl run` start runs and the server keeps them"),
    ],
)
def test_derived_kinds_are_read_only(kind: str, reason: str) -> None:
    document = {"apiVersion": "xene.dev/v1", "kind": kind, "metadata": {"name": "x"}, "spec": {}}
    with pytest.raises(Invalid) as caught:
        validate_object(document)
    assert [str(e) for e in caught.value.errors] == [
        f"kind: {kind} objects are read-only: {reason}"
    ]


@pytest.mark.parametrize(
    ("schedule", "problem"),
    [
        ("*/5 * * * *", None),
        ("0 9 * * MON-FRI", None),
        ("@HOURLY", None),
        ("", "must not be empty: use 5 fields (minute hour day-of-month month day-of-week)"),
        ("H * * * *", "'H * * * *' uses 'H' (hashed) fields, which are not supported"),
        (
            "0 0 * * 8",
            "'0 0 * * 8' is not a valid cron schedule ([0 0 * * 8] is not acceptable, out of "
            "range)",
        ),
    ],
)
def test_cron_schedule_problem(schedule: str, problem: str | None) -> None:
    assert cron_schedule_problem(schedule) == problem


def test_timezone_and_executor_problems() -> None:
    assert timezone_problem("UTC") is None
    assert timezone_problem("America/New_York") is None
    assert timezone_problem("../../etc/passwd") == (
        "unknown time zone '../../etc/passwd' (use an IANA name such as Europe/Paris or UTC)"
    )
    assert executor_problem("docker") is None
    assert executor_problem("process") is None
    assert executor_problem("external:github-actions") is None
    assert executor_problem("external:Git Hub") == (
        "the provider of 'external:Git Hub' 'Git Hub' is not a valid name: use lower-case "
        "letters, digits and '-', starting and ending with a letter or digit"
    )
