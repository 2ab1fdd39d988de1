"""The example workflows apply as they are."""

from __future__ import annotations

from pathlib import Path

import pytest

from xene.api.documents import parse_documents
from xene.api.graph import dag_order
from xene.api.legacy import CONVERTED_FROM_ANNOTATION
from xene.api.validation import validate_object
from xene.api.workflow import Workflow

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


def _load(name: str) -> Workflow:
    path = EXAMPLES / name
    [document] = parse_documents(path.read_bytes(), str(path))
    workflow = validate_object(document)
    assert isinstance(workflow, Workflow)
    return workflow


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.y*ml")), ids=lambda p: p.name)
def test_every_example_validates(path: Path) -> None:
    for document in parse_documents(path.read_bytes(), str(path)):
        validate_object(document)


def test_hello_runs_checkout_then_test_on_busybox() -> None:
    workflow = _load("hello.yaml")
    assert workflow.metadata.name == "hello"
    assert [(t.name, t.type) for t in workflow.spec.triggers] == [
        ("every-5-min", "cron"),
        ("on-push", "webhook"),
    ]
    assert workflow.spec.triggers[1].secretEnv == "HELLO_WEBHOOK_SECRET"
    build = workflow.spec.pipelines["build"]
    assert build.executor == "docker"
    assert build.triggers == ["every-5-min", "on-push"]
    assert dag_order(build.tasks) == [["checkout"], ["test"]]
    assert {task.image for task in build.tasks.values()} == {"busybox:latest"}
    # test reads the file checkout wrote into the shared workspace
    assert "> src.txt" in build.tasks["checkout"].steps[0].run
    assert "src.txt" in build.tasks["test"].steps[0].run
    assert "test.sh" not in build.tasks["test"].steps[0].run


def test_the_legacy_example_converts() -> None:
    workflow = _load("legacy-v1alpha1.yaml")
    assert workflow.metadata.annotations[CONVERTED_FROM_ANNOTATION] == "v1alpha1"
    assert sorted(workflow.spec.pipelines) == ["build", "notify"]
    assert all(
        task.image == "busybox:latest"
        for pipeline in workflow.spec.pipelines.values()
        for task in pipeline.tasks.values()
    )
