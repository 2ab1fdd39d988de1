"""Whatever a user sends, reading and validating it fails only with Invalid or TooLarge."""

from __future__ import annotations

import copy
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.unit.api.manifests import LEGACY, workflow_document
from xene.api.derivation import derive_pipelines, derive_triggers
from xene.api.documents import parse_documents
from xene.api.errors import Invalid, TooLarge
from xene.api.validation import validate_object
from xene.api.workflow import Workflow

# Field names of both manifest versions, so generated mappings reach past the first checks.
FIELD_NAMES = [
    "apiVersion",
    "kind",
    "metadata",
    "spec",
    "status",
    "name",
    "labels",
    "annotations",
    "uid",
    "description",
    "triggers",
    "pipelines",
    "type",
    "schedule",
    "timezone",
    "concurrencyPolicy",
    "startingDeadline",
    "secretEnv",
    "secretFile",
    "cronConfig",
    "trigger",
    "executor",
    "containerConfig",
    "image",
    "agentSelector",
    "env",
    "tasks",
    "steps",
    "dependencies",
    "timeout",
    "retries",
    "limit",
    "backoff",
    "resources",
    "memory",
    "cpus",
    "workingDir",
    "run",
    "cmd",
    "allowFailure",
    "build",
    "test",
    "checkout",
]
SCALAR_WORDS = [
    "xene.dev/v1",
    "v1alpha1",
    "Workflow",
    "Pipeline",
    "cron",
    "webhook",
    "null",
    "docker",
    "process",
    "external:x",
    "container",
    "shell",
    "*/5 * * * *",
    "@hourly",
    "Europe/Paris",
    "10m",
    "0s",
    "1e999",
    "512Mi",
    "build",
    "test",
    "checkout",
    "HELLO_SECRET",
]

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats()
    | st.text(max_size=20)
    | st.sampled_from(SCALAR_WORDS)
)
keys = st.sampled_from(FIELD_NAMES) | st.text(max_size=12)
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(keys, children, max_size=5),
    max_leaves=30,
)

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _validates_or_is_invalid(document: Any) -> None:
    try:
        workflow = validate_object(document)
    except Invalid as exc:
        assert exc.errors
        assert all(isinstance(error.message, str) and error.message for error in exc.errors)
        return
    # A document that validates derives objects and serialises without surprises.
    assert isinstance(workflow, Workflow)
    json.dumps(workflow.to_dict())
    derive_pipelines(workflow)
    derive_triggers(workflow)


@FAST
@given(json_values)
def test_any_value_validates_or_is_invalid(document: Any) -> None:
    _validates_or_is_invalid(document)


@FAST
@given(
    st.sampled_from(["xene.dev/v1", "v1alpha1"]),
    st.dictionaries(keys, json_values, max_size=4),
    st.dictionaries(keys, json_values, max_size=4),
)
def test_any_workflow_shaped_document_validates_or_is_invalid(
    api_version: str, metadata: dict[str, Any], spec: dict[str, Any]
) -> None:
    document = {"apiVersion": api_version, "kind": "Workflow", "metadata": metadata, "spec": spec}
    _validates_or_is_invalid(document)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*prefix, index))
    return found


def _replace(document: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    changed = copy.deepcopy(document)
    target = changed
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return changed


V1_DOCUMENT = workflow_document()
LEGACY_DOCUMENT = parse_documents(LEGACY)[0]


@FAST
@given(st.data())
def test_a_valid_document_with_one_part_replaced_validates_or_is_invalid(data: Any) -> None:
    base = data.draw(st.sampled_from([V1_DOCUMENT, LEGACY_DOCUMENT]))
    path = data.draw(st.sampled_from(_paths(base)))
    value = data.draw(json_values)
    _validates_or_is_invalid(_replace(base, path, value))


yaml_text = st.text(alphabet=" \n\t:-[]{}&*!|>'\"#,?%@`abcxyz019._/<=~", max_size=80)


@FAST
@given(yaml_text | st.text(max_size=80) | st.binary(max_size=80))
def test_any_text_parses_or_is_invalid(text: str | bytes) -> None:
    try:
        documents = parse_documents(text, "fuzz.yaml", max_bytes=64)
    except (Invalid, TooLarge):
        return
    assert all(isinstance(document, dict) for document in documents)
    assert json.loads(json.dumps(documents)) == documents or _has_nan(documents)
    for document in documents:
        _validates_or_is_invalid(document)


def _has_nan(value: Any) -> bool:
    if isinstance(value, float):
        return value != value
    if isinstance(value, dict):
        return any(_has_nan(item) for item in value.values())
    if isinstance(value, list):
        return any(_has_nan(item) for item in value)
    return False


@FAST
@given(json_values)
def test_dumped_values_parse_back_from_json_and_yaml(value: Any) -> None:
    document = {"value": value}
    try:
        text = json.dumps(document, allow_nan=False)
    except ValueError:
        return
    assert parse_documents(text, "doc.json") == [document]
    assert parse_documents(text, "doc.yaml") == [document]
