"""Checking submitted objects: every problem of a Workflow at once, each named by its field path.

`validate_object` is what the API server and `xenectl validate` call on each parsed document.
Errors read like `spec.pipelines.build.tasks.test.dependencies[0]: unknown task 'chekout': did
you mean 'checkout'?`. Legacy v1alpha1 manifests are converted first and their errors name the
fields as the legacy document wrote them.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from types import NoneType, UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

from xene.api.cron import cron_schedule_problem, timezone_problem
from xene.api.documents import describe_type
from xene.api.durations import parse_duration
from xene.api.errors import FieldError, Invalid
from xene.api.executors import DEFAULT_EXECUTOR, DOCKER, EXTERNAL_PREFIX, HOST_KINDS
from xene.api.graph import find_cycles, unknown_dependency_problem
from xene.api.kinds import KINDS
from xene.api.labels import label_key_problem, label_value_problem
from xene.api.legacy import LEGACY_API_VERSION, LegacyConversion, convert_legacy, is_legacy
from xene.api.meta import API_VERSION, Resource, dns1123_label_problem
from xene.api.paths import join_path, path_has_prefix, path_of
from xene.api.suggestions import did_you_mean as _did_you_mean
from xene.api.suggestions import unknown as _unknown
from xene.api.workflow import Workflow

# Written by the server; a manifest saved from `xenectl get -o yaml` carries them and still applies.
SERVER_MANAGED_METADATA = (
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "ownerReferences",
)
MAX_ANNOTATIONS_BYTES = 256 * 1024

_READ_ONLY_KINDS = {
    "Pipeline": "the server derives them from Workflows: apply the Workflow that defines it",
    "Trigger": "the server derives them from Workflows: apply the Workflow that defines it",
    "Agent": "agents register themselves and the server keeps them",
    "PipelineRun": "triggers and `xenectl run` start runs and the server keeps them",
}
_KNOWN_KINDS = tuple(sorted(cls.kind_name for cls in KINDS.values()))
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def validate_object(document: object) -> Resource:
    """The typed object of a submitted document; raises Invalid listing every problem."""
    if isinstance(document, dict) and not is_legacy(document):
        kind = document.get("kind")
        if isinstance(kind, str) and kind != "Workflow" and kind in _KNOWN_KINDS:
            raise Invalid([FieldError("kind", _kind_problem(kind))])
    return validate_workflow(document)


def validate_workflow(document: object) -> Workflow:
    """The Workflow a v1 or v1alpha1 document describes; raises Invalid listing all problems."""
    if not isinstance(document, dict):
        raise Invalid(
            [
                FieldError(
                    "",
                    f"expected a mapping with apiVersion, kind, metadata and spec, "
                    f"got {describe_type(document)}",
                )
            ]
        )
    conversion: LegacyConversion | None = None
    if document.get("apiVersion") == LEGACY_API_VERSION:
        conversion = convert_legacy(document)
        document = conversion.document
    header = _header_problems(document)
    if header:
        raise Invalid(header)
    cleaned = _without_server_fields(document)
    problems = _Problems()
    workflow: Workflow | None = None
    try:
        workflow = Workflow.model_validate(cleaned)
    except ValidationError as exc:
        for error in exc.errors(include_url=False):
            problems.add(path_of(error["loc"]), _pydantic_message(error))
    _check_workflow(cleaned, problems)
    if problems.errors or workflow is None:
        errors = _in_document_order(problems.errors, cleaned)
        if conversion is not None:
            errors = [FieldError(conversion.legacy_path(e.path), e.message) for e in errors]
        raise Invalid(errors)
    return workflow


# ---- Field checks others reuse ------------------------------------------------------------------


def executor_problem(executor: str) -> str | None:
    """Why `executor` is not docker, process or external:<provider>, or None."""
    if executor in HOST_KINDS:
        return None
    if executor.startswith(EXTERNAL_PREFIX):
        provider = executor[len(EXTERNAL_PREFIX) :]
        problem = dns1123_label_problem(provider)
        if problem is None:
            return None
        return f"the provider of '{executor}' {problem}"
    return _unknown("executor", executor, HOST_KINDS, "use docker, process or external:<provider>")


def env_name_problem(name: str) -> str | None:
    """Why `name` is not an environment variable name, or None."""
    if _ENV_NAME.match(name):
        return None
    return (
        f"'{name}' is not an environment variable name: use letters, digits and '_', "
        "not starting with a digit"
    )


# ---- Internals ----------------------------------------------------------------------------------


class _Problems:
    def __init__(self) -> None:
        self.errors: list[FieldError] = []
        self._seen: set[tuple[str, str]] = set()

    def add(self, path: str, message: str | None) -> None:
        if message is None or (path, message) in self._seen:
            return
        self._seen.add((path, message))
        self.errors.append(FieldError(path, message))


def _shown(value: object) -> str:
    if isinstance(value, str):
        text = value if len(value) <= 60 else value[:57] + "..."
        return f"'{text}'"
    return describe_type(value)


def _kind_problem(kind: object) -> str:
    if kind is None:
        return "required: the kind of object, e.g. Workflow"
    if not isinstance(kind, str):
        return f"expected a string such as Workflow, got {describe_type(kind)}"
    if kind in _READ_ONLY_KINDS:
        return f"{kind} objects are read-only: {_READ_ONLY_KINDS[kind]}"
    return _unknown(
        "kind", kind, _KNOWN_KINDS, f"known kinds are {', '.join(_KNOWN_KINDS)}; apply Workflows"
    )


def _header_problems(document: Mapping[str, Any]) -> list[FieldError]:
    errors: list[FieldError] = []
    api_version = document.get("apiVersion")
    if api_version is None:
        errors.append(FieldError("apiVersion", f"required: use '{API_VERSION}'"))
    elif api_version != API_VERSION:
        errors.append(
            FieldError(
                "apiVersion",
                f"unsupported apiVersion {_shown(api_version)}: use '{API_VERSION}' "
                f"(or '{LEGACY_API_VERSION}' for Xene's original manifests)",
            )
        )
    kind = document.get("kind")
    if kind != "Workflow":
        errors.append(FieldError("kind", _kind_problem(kind)))
    return errors


def _without_server_fields(document: Mapping[str, Any]) -> dict[str, Any]:
    cleaned = {key: value for key, value in document.items() if key != "status"}
    metadata = cleaned.get("metadata")
    if isinstance(metadata, dict):
        cleaned["metadata"] = {
            key: value for key, value in metadata.items() if key not in SERVER_MANAGED_METADATA
        }
    return cleaned


def _in_document_order(errors: list[FieldError], document: Mapping[str, Any]) -> list[FieldError]:
    """`errors` sorted by where their fields are written, so they read top to bottom."""
    positions: dict[str, int] = {}
    stack: list[tuple[str, object]] = [("", document)]
    while stack:
        path, value = stack.pop()
        positions.setdefault(path, len(positions))
        if isinstance(value, dict):
            children = [(join_path(path, key), item) for key, item in value.items()]
        elif isinstance(value, list):
            children = [(join_path(path, index), item) for index, item in enumerate(value)]
        else:
            continue
        stack.extend(reversed(children))

    def position(error: FieldError) -> int:
        # A missing field sorts with the closest enclosing field that is written.
        for end in range(len(error.path), 0, -1):
            prefix = error.path[:end]
            if prefix in positions and path_has_prefix(error.path, prefix):
                return positions[prefix]
        return -1

    return sorted(errors, key=position)


# -- pydantic errors into sentences


def _pydantic_message(error: Any) -> str:
    kind: str = error["type"]
    value = error.get("input")
    context = error.get("ctx") or {}
    location = tuple(error["loc"])
    if kind == "missing":
        return "required"
    if kind == "extra_forbidden":
        field = str(location[-1])
        known = _model_fields_at(location[:-1])
        return f"unknown field '{field}'{_did_you_mean(field, known)}"
    if kind == "string_type":
        if isinstance(value, bool | int | float):
            return (
                f"expected a string, got {describe_type(value)} ({json.dumps(value)}): "
                "put it in quotes"
            )
        return f"expected a string, got {describe_type(value)}"
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return (
            f"expected an integer, got {_shown(value) if kind == 'int_parsing' else _value(value)}"
        )
    if kind in ("float_type", "float_parsing"):
        return f"expected a number, got {_shown(value)}"
    if kind in ("bool_type", "bool_parsing"):
        return f"expected true or false, got {_shown(value)}"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return f"expected a mapping, got {describe_type(value)}"
    if kind in ("list_type", "tuple_type"):
        return f"expected a list, got {describe_type(value)}"
    if kind.startswith(("datetime_", "date_")):
        return f"expected a timestamp such as 2024-01-31T12:00:00Z, got {_shown(value)}"
    if kind == "literal_error":
        choices = [str(choice) for choice in _literal_choices(location)]
        hint = _did_you_mean(value, choices) if isinstance(value, str) else ""
        return f"must be {context.get('expected')}, got {_shown(value)}{hint}"
    if kind == "too_short":
        if context.get("min_length") == 1:
            return "must not be empty"
        return f"must have at least {context.get('min_length')} items"
    bounds = {
        "greater_than": "must be greater than {gt}",
        "greater_than_equal": "must be at least {ge}",
        "less_than": "must be less than {lt}",
        "less_than_equal": "must be at most {le}",
    }
    if kind in bounds:
        return bounds[kind].format(**{key: _number(v) for key, v in context.items()})
    message: str = error["msg"]
    return message.removeprefix("Value error, ")


def _number(value: object) -> object:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _value(value: object) -> str:
    if isinstance(value, bool | int | float):
        return f"{describe_type(value)} ({json.dumps(value)})"
    return _shown(value)


def _annotation_at(location: Sequence[object]) -> Any:
    """The type the Workflow model expects at `location`, or None when it cannot be told."""
    current: Any = Workflow
    for key in location:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(key) if isinstance(key, str) else None
            if field is None:
                return None
            current = field.annotation
        elif get_origin(current) is dict:
            current = get_args(current)[1]
        elif get_origin(current) is list:
            current = get_args(current)[0]
        else:
            return None
    return _unwrap(current)


def _unwrap(annotation: Any) -> Any:
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (Union, UnionType):
            members = [arg for arg in get_args(annotation) if arg is not NoneType]
            if len(members) != 1:
                return annotation
            annotation = members[0]
        else:
            return annotation


def _model_fields_at(location: Sequence[object]) -> list[str]:
    annotation = _annotation_at(location)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return list(annotation.model_fields)
    return []


def _literal_choices(location: Sequence[object]) -> tuple[object, ...]:
    annotation = _annotation_at(location)
    return get_args(annotation) if get_origin(annotation) is Literal else ()


# -- checks across fields, on the document as written (shapes pydantic refused are skipped)


def _check_workflow(document: Mapping[str, Any], problems: _Problems) -> None:
    metadata = document.get("metadata")
    if isinstance(metadata, dict):
        name = metadata.get("name")
        if isinstance(name, str):
            problems.add("metadata.name", dns1123_label_problem(name))
        _check_labels(metadata.get("labels"), "metadata.labels", problems)
        _check_annotations(metadata.get("annotations"), problems)
    spec = document.get("spec")
    if not isinstance(spec, dict):
        return
    trigger_names = _check_triggers(spec.get("triggers"), problems)
    pipelines = spec.get("pipelines")
    if isinstance(pipelines, dict):
        for name, pipeline in pipelines.items():
            path = join_path("spec.pipelines", name)
            problems.add(path, _name_problem(name))
            if isinstance(pipeline, dict):
                _check_pipeline(pipeline, path, trigger_names, problems)


def _name_problem(name: object) -> str | None:
    return dns1123_label_problem(name) if isinstance(name, str) else None


def _check_labels(labels: object, path: str, problems: _Problems) -> None:
    if not isinstance(labels, dict):
        return
    for key, value in labels.items():
        key_path = join_path(path, key)
        problems.add(key_path, label_key_problem(str(key)))
        if isinstance(value, str):
            problems.add(key_path, label_value_problem(value))


def _check_annotations(annotations: object, problems: _Problems) -> None:
    if not isinstance(annotations, dict):
        return
    size = 0
    for key, value in annotations.items():
        problems.add(join_path("metadata.annotations", key), label_key_problem(str(key)))
        if isinstance(value, str):
            size += len(str(key).encode()) + len(value.encode())
    if size > MAX_ANNOTATIONS_BYTES:
        problems.add(
            "metadata.annotations",
            f"annotations total {size} bytes, more than the limit of {MAX_ANNOTATIONS_BYTES}",
        )


def _check_env(env: object, path: str, problems: _Problems) -> None:
    if isinstance(env, dict):
        for key in env:
            problems.add(join_path(path, key), env_name_problem(str(key)))


def _check_positive_duration(value: object, path: str, problems: _Problems) -> None:
    if not isinstance(value, str):
        return
    try:
        seconds = parse_duration(value)
    except ValueError:
        return  # reported by the model
    if not math.isfinite(seconds):
        problems.add(path, f"'{value}' is too long")
    elif seconds <= 0:
        problems.add(path, "must be longer than zero")


def _check_triggers(triggers: object, problems: _Problems) -> list[str]:
    """Check each trigger entry; the names defined, for the pipelines' references."""
    names: list[str] = []
    if not isinstance(triggers, list):
        return names
    first_index: dict[str, int] = {}
    for index, trigger in enumerate(triggers):
        path = join_path("spec.triggers", index)
        if not isinstance(trigger, dict):
            continue
        name = trigger.get("name")
        if isinstance(name, str):
            names.append(name)
            problems.add(join_path(path, "name"), dns1123_label_problem(name))
            if name in first_index:
                problems.add(
                    join_path(path, "name"),
                    f"duplicate trigger name '{name}' (also spec.triggers[{first_index[name]}])",
                )
            else:
                first_index[name] = index
        _check_trigger(trigger, path, problems)
    return names


def _check_trigger(trigger: Mapping[str, Any], path: str, problems: _Problems) -> None:
    kind = trigger.get("type")
    schedule = trigger.get("schedule")
    timezone = trigger.get("timezone")
    secret_env = trigger.get("secretEnv")
    secret_file = trigger.get("secretFile")
    if kind == "cron":
        if schedule is None:
            problems.add(
                join_path(path, "schedule"),
                "required for a cron trigger, e.g. '*/5 * * * *' or '@hourly'",
            )
        elif isinstance(schedule, str):
            problems.add(join_path(path, "schedule"), cron_schedule_problem(schedule))
        if isinstance(timezone, str):
            problems.add(join_path(path, "timezone"), timezone_problem(timezone))
        for field in ("secretEnv", "secretFile"):
            if trigger.get(field) is not None:
                problems.add(
                    join_path(path, field), "only webhook triggers take a secret; remove it"
                )
        _check_positive_duration(
            trigger.get("startingDeadline"), join_path(path, "startingDeadline"), problems
        )
    elif kind == "webhook":
        if schedule is not None:
            problems.add(
                join_path(path, "schedule"),
                "webhook triggers have no schedule: use a cron trigger for that",
            )
        for field in ("timezone", "startingDeadline"):
            if trigger.get(field) is not None:
                problems.add(join_path(path, field), "applies only to cron triggers")
        if secret_env is None and secret_file is None:
            problems.add(
                path,
                "a webhook trigger needs a secret to check signatures: set secretEnv "
                "(an environment variable of the apiserver) or secretFile (a file it reads)",
            )
        elif secret_env is not None and secret_file is not None:
            problems.add(path, "set only one of secretEnv and secretFile")
        if isinstance(secret_env, str):
            problems.add(join_path(path, "secretEnv"), env_name_problem(secret_env))
        if isinstance(secret_file, str) and not secret_file.startswith("/"):
            problems.add(
                join_path(path, "secretFile"),
                f"'{secret_file}' is not an absolute path (the apiserver reads it)",
            )


def _check_pipeline(
    pipeline: Mapping[str, Any], path: str, trigger_names: list[str], problems: _Problems
) -> None:
    triggers = pipeline.get("triggers")
    if isinstance(triggers, list):
        first_index: dict[str, int] = {}
        for index, name in enumerate(triggers):
            if not isinstance(name, str):
                continue
            item_path = join_path(path, "triggers", index)
            if name not in trigger_names:
                problems.add(
                    item_path,
                    _unknown("trigger", name, trigger_names, "define it in spec.triggers"),
                )
            elif name in first_index:
                problems.add(
                    item_path, f"duplicate trigger '{name}' (also triggers[{first_index[name]}])"
                )
            first_index.setdefault(name, index)
    executor = pipeline.get("executor", DEFAULT_EXECUTOR)
    if isinstance(executor, str):
        problems.add(join_path(path, "executor"), executor_problem(executor))
    _check_labels(pipeline.get("agentSelector"), join_path(path, "agentSelector"), problems)
    _check_env(pipeline.get("env"), join_path(path, "env"), problems)
    _check_positive_duration(pipeline.get("timeout"), join_path(path, "timeout"), problems)
    shared = pipeline.get("sharedContainer")
    tasks = pipeline.get("tasks")
    if isinstance(tasks, dict):
        _check_tasks(
            tasks, join_path(path, "tasks"), executor == DOCKER and shared is None, problems
        )
        if shared is not None:
            for name, task in tasks.items():
                if isinstance(task, dict) and task.get("image") is not None:
                    problems.add(
                        join_path(path, "tasks", name, "image"),
                        "every task runs in the pipeline's shared container: set "
                        f"{join_path(path, 'sharedContainer')}.image instead",
                    )


def _check_tasks(
    tasks: Mapping[str, Any], path: str, needs_image: bool, problems: _Problems
) -> None:
    graph: dict[str, list[str]] = {}
    for name, task in tasks.items():
        task_path = join_path(path, name)
        problems.add(task_path, _name_problem(name))
        graph[name] = []
        if not isinstance(task, dict):
            continue
        graph[name] = _check_dependencies(
            name, task.get("dependencies"), tasks, task_path, problems
        )
        image = task.get("image")
        if image is None and needs_image:
            problems.add(
                join_path(task_path, "image"),
                "required with the docker executor: the image the steps run in, "
                "e.g. busybox:latest",
            )
        elif isinstance(image, str) and (not image.strip() or any(c.isspace() for c in image)):
            problems.add(
                join_path(task_path, "image"),
                f"'{image}' is not an image reference such as busybox:latest",
            )
        _check_positive_duration(task.get("timeout"), join_path(task_path, "timeout"), problems)
        _check_positive_duration(
            task.get("waitTimeout"), join_path(task_path, "waitTimeout"), problems
        )
        _check_env(task.get("env"), join_path(task_path, "env"), problems)
        resources = task.get("resources")
        if isinstance(resources, dict):
            cpus = resources.get("cpus")
            if isinstance(cpus, float) and not math.isfinite(cpus):
                problems.add(join_path(task_path, "resources", "cpus"), "must be a finite number")
        _check_steps(task.get("steps"), join_path(task_path, "steps"), problems)
    for cycle in find_cycles(graph):
        problems.add(path, f"dependency cycle {' -> '.join(cycle)}")


def _check_dependencies(
    name: str, dependencies: object, tasks: Mapping[str, Any], path: str, problems: _Problems
) -> list[str]:
    """Check one task's dependencies; the valid edges, for the cycle search."""
    edges: list[str] = []
    if not isinstance(dependencies, list):
        return edges
    first_index: dict[str, int] = {}
    for index, dependency in enumerate(dependencies):
        if not isinstance(dependency, str):
            continue
        item_path = join_path(path, "dependencies", index)
        if dependency == name:
            problems.add(item_path, f"task '{name}' depends on itself")
        elif dependency not in tasks:
            problems.add(item_path, unknown_dependency_problem(dependency, name, list(tasks)))
        elif dependency in first_index:
            problems.add(
                item_path,
                f"duplicate dependency '{dependency}' "
                f"(also dependencies[{first_index[dependency]}])",
            )
        else:
            edges.append(dependency)
        first_index.setdefault(dependency, index)
    return edges


def _check_steps(steps: object, path: str, problems: _Problems) -> None:
    if not isinstance(steps, list):
        return
    first_index: dict[str, int] = {}
    for index, step in enumerate(steps):
        step_path = join_path(path, index)
        if not isinstance(step, dict):
            continue
        name = step.get("name")
        if isinstance(name, str):
            problems.add(join_path(step_path, "name"), dns1123_label_problem(name))
            if name in first_index:
                problems.add(
                    join_path(step_path, "name"),
                    f"duplicate step name '{name}' (also steps[{first_index[name]}])",
                )
            first_index.setdefault(name, index)
        run = step.get("run")
        if isinstance(run, str) and not run.strip():
            problems.add(join_path(step_path, "run"), "must not be empty: the command to run")
        _check_positive_duration(step.get("timeout"), join_path(step_path, "timeout"), problems)
        _check_env(step.get("env"), join_path(step_path, "env"), problems)
