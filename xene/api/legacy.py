"""Xene's original manifests (`apiVersion: v1alpha1`), converted to the `xene.dev/v1` form.

The v1alpha1 shape: a `triggers` map with `cronConfig`, a pipeline-level `trigger`, an
`executor: {type: container, containerConfig: {image}}` and steps `{name, type: shell, cmd}`.
Conversion keeps a map from v1 paths back to the legacy ones, so errors found later by the v1
checks still name the field as the user wrote it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from xene.api.derivation import DESCRIPTION_ANNOTATION
from xene.api.documents import describe_type
from xene.api.errors import FieldError, Invalid
from xene.api.meta import API_VERSION
from xene.api.paths import join_path, path_has_prefix

LEGACY_API_VERSION = "v1alpha1"
CONVERTED_FROM_ANNOTATION = "xene.dev/converted-from"
CONVERSION_NOTES_ANNOTATION = "xene.dev/conversion-notes"

_TOP_FIELDS = ("apiVersion", "kind", "metadata", "spec", "status")
_METADATA_FIELDS = (
    "name",
    "description",
    "labels",
    "annotations",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
)
_SPEC_FIELDS = ("triggers", "pipelines")
_TRIGGER_FIELDS = ("type", "description", "cronConfig")
_CRON_CONFIG_FIELDS = ("schedule", "timezone")
_PIPELINE_FIELDS = ("description", "trigger", "executor", "tasks")
_EXECUTOR_FIELDS = ("type", "containerConfig")
_CONTAINER_CONFIG_FIELDS = ("image",)
_TASK_FIELDS = ("description", "image", "workingDir", "dependencies", "steps")
_STEP_FIELDS = ("name", "type", "cmd", "description")
_TRIGGER_TYPES = ("cron", "webhook", "null")


def is_legacy(document: object) -> bool:
    """Whether `document` is a v1alpha1 manifest."""
    return isinstance(document, dict) and document.get("apiVersion") == LEGACY_API_VERSION


def webhook_secret_env(workflow: str, trigger: str) -> str:
    """The environment variable a converted legacy webhook trigger reads its secret from."""
    parts = (workflow, trigger)
    snake = "_".join(re.sub(r"[^A-Za-z0-9]+", "_", part).strip("_").upper() for part in parts)
    return f"XENE_WEBHOOK_SECRET_{snake}"


@dataclass
class LegacyConversion:
    """A converted manifest, the notes recorded about it and the way back to legacy paths."""

    document: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    # (v1 path, legacy path) pairs; the longest v1 prefix of an error's path wins.
    paths: list[tuple[str, str]] = field(default_factory=list)

    def legacy_path(self, path: str) -> str:
        """The legacy document's path for a path of the converted document."""
        best: tuple[str, str] | None = None
        for v1_path, legacy in self.paths:
            if path_has_prefix(path, v1_path) and (best is None or len(v1_path) > len(best[0])):
                best = (v1_path, legacy)
        if best is None:
            return path
        return best[1] + path[len(best[0]) :]


class _Converter:
    def __init__(self) -> None:
        self.errors: list[FieldError] = []
        self.notes: list[str] = []
        self.paths: list[tuple[str, str]] = []

    def error(self, path: str, message: str) -> None:
        self.errors.append(FieldError(path, message))

    def rename(self, v1_path: str, legacy_path: str) -> None:
        if v1_path != legacy_path:
            self.paths.append((v1_path, legacy_path))

    def mapping(self, value: object, path: str, known: tuple[str, ...]) -> dict[str, Any] | None:
        """`value` as a mapping of known fields, recording an error for anything else."""
        if not isinstance(value, dict):
            self.error(path, f"expected a mapping, got {describe_type(value)}")
            return None
        for key in value:
            if key not in known:
                self.error(
                    join_path(path, key),
                    f"unknown field '{key}' (v1alpha1 knows {', '.join(known)})",
                )
        return value

    def convert(self, document: dict[str, Any]) -> dict[str, Any]:
        self.mapping(document, "", _TOP_FIELDS)
        kind = document.get("kind")
        if kind not in ("Workflow", "workflow"):
            shown = f"'{kind}'" if isinstance(kind, str) else describe_type(kind)
            self.error("kind", f"v1alpha1 manifests are Workflows, got {shown}")
        metadata = self.convert_metadata(document.get("metadata"))
        workflow = metadata.get("name") if isinstance(metadata.get("name"), str) else ""
        spec = self.convert_spec(document.get("spec"), str(workflow))
        annotations = metadata.get("annotations")
        if self.notes and isinstance(annotations, dict):
            annotations[CONVERSION_NOTES_ANNOTATION] = "; ".join(self.notes)
        return {"apiVersion": API_VERSION, "kind": "Workflow", "metadata": metadata, "spec": spec}

    def convert_metadata(self, value: object) -> dict[str, Any]:
        metadata = self.mapping(value, "metadata", _METADATA_FIELDS)
        if metadata is None:
            return {}
        converted = {key: item for key, item in metadata.items() if key != "description"}
        annotations = metadata.get("annotations", {})
        if not isinstance(annotations, dict):
            return converted  # the v1 checks report it
        annotations = {**annotations, CONVERTED_FROM_ANNOTATION: LEGACY_API_VERSION}
        description = metadata.get("description")
        if isinstance(description, str):
            annotations[DESCRIPTION_ANNOTATION] = description
            self.rename(
                join_path("metadata.annotations", DESCRIPTION_ANNOTATION), "metadata.description"
            )
        elif description is not None:
            self.error(
                "metadata.description", f"expected a string, got {describe_type(description)}"
            )
        converted["annotations"] = annotations
        return converted

    def convert_spec(self, value: object, workflow: str) -> dict[str, Any]:
        spec = self.mapping(value, "spec", _SPEC_FIELDS)
        if spec is None:
            return {}
        converted: dict[str, Any] = {}
        manual_only: set[str] = set()
        if "triggers" in spec:
            converted["triggers"] = self.convert_triggers(spec["triggers"], workflow, manual_only)
        if "pipelines" in spec:
            pipelines = self.mapping_of_entries(spec["pipelines"], "spec.pipelines", "pipeline")
            converted["pipelines"] = {
                name: self.convert_pipeline(entry, join_path("spec.pipelines", name), manual_only)
                for name, entry in pipelines.items()
            }
        return converted

    def mapping_of_entries(self, value: object, path: str, what: str) -> dict[str, Any]:
        if isinstance(value, dict):
            return value
        self.error(
            path, f"expected a mapping of {what} names to {what}s, got {describe_type(value)}"
        )
        return {}

    def convert_triggers(
        self, value: object, workflow: str, manual_only: set[str]
    ) -> list[dict[str, Any]]:
        triggers: list[dict[str, Any]] = []
        for name, entry in self.mapping_of_entries(value, "spec.triggers", "trigger").items():
            legacy = join_path("spec.triggers", name)
            trigger = self.mapping(entry, legacy, _TRIGGER_FIELDS)
            if trigger is None:
                continue
            kind = trigger.get("type")
            if kind is None:
                self.error(join_path(legacy, "type"), "required: cron, webhook or null")
                continue
            if kind not in _TRIGGER_TYPES:
                self.error(
                    join_path(legacy, "type"),
                    f"unknown trigger type {_shown(kind)}: v1alpha1 knows cron, webhook and null",
                )
                continue
            if kind == "null":
                manual_only.add(name)
                self.notes.append(
                    f"trigger '{name}' (type null) was dropped: its pipelines run when started "
                    "by hand"
                )
                continue
            v1 = f"spec.triggers[{len(triggers)}]"
            self.rename(v1, legacy)
            converted: dict[str, Any] = {"name": name, "type": kind}
            if "description" in trigger:
                converted["description"] = trigger["description"]
            cron_config = trigger.get("cronConfig")
            if kind == "cron":
                config = self.mapping(
                    cron_config if cron_config is not None else {},
                    join_path(legacy, "cronConfig"),
                    _CRON_CONFIG_FIELDS,
                )
                if config is not None:
                    if "schedule" not in config:
                        self.error(join_path(legacy, "cronConfig", "schedule"), "required")
                    for key in _CRON_CONFIG_FIELDS:
                        if key in config:
                            converted[key] = config[key]
                            self.rename(join_path(v1, key), join_path(legacy, "cronConfig", key))
            else:
                if cron_config is not None:
                    self.error(join_path(legacy, "cronConfig"), "applies only to cron triggers")
                # v1alpha1 webhooks were unsigned; v1 requires a secret, so name where it lives.
                variable = webhook_secret_env(workflow, str(name))
                converted["secretEnv"] = variable
                self.notes.append(
                    f"webhook trigger '{name}' reads its HMAC secret from the apiserver's "
                    f"environment variable {variable}"
                )
            triggers.append(converted)
        return triggers

    def convert_pipeline(self, value: object, path: str, manual_only: set[str]) -> Any:
        pipeline = self.mapping(value, path, _PIPELINE_FIELDS)
        if pipeline is None:
            return value
        converted: dict[str, Any] = {}
        if "description" in pipeline:
            converted["description"] = pipeline["description"]
        trigger = pipeline.get("trigger")
        if trigger is not None and not (isinstance(trigger, str) and trigger in manual_only):
            converted["triggers"] = [trigger]
            self.rename(join_path(path, "triggers", 0), join_path(path, "trigger"))
            self.rename(join_path(path, "triggers"), join_path(path, "trigger"))
        image = self.convert_executor(pipeline, path, converted)
        tasks = self.mapping_of_entries(pipeline.get("tasks", {}), join_path(path, "tasks"), "task")
        converted["tasks"] = {
            name: self.convert_task(entry, join_path(path, "tasks", name), image, path)
            for name, entry in tasks.items()
        }
        return converted

    def convert_executor(
        self, pipeline: dict[str, Any], path: str, converted: dict[str, Any]
    ) -> object:
        """Set the v1 executor; returns the container image tasks inherit, if any."""
        if "executor" not in pipeline:
            return None
        executor_path = join_path(path, "executor")
        executor = self.mapping(pipeline["executor"], executor_path, _EXECUTOR_FIELDS)
        if executor is None:
            return None
        kind = executor.get("type", "container")
        if kind != "container":
            self.error(
                join_path(executor_path, "type"),
                f"unknown executor type {_shown(kind)}: v1alpha1 knows 'container'",
            )
            return None
        converted["executor"] = "docker"
        self.rename(executor_path, join_path(executor_path, "type"))
        config_path = join_path(executor_path, "containerConfig")
        config = self.mapping(
            executor.get("containerConfig", {}), config_path, _CONTAINER_CONFIG_FIELDS
        )
        return config.get("image") if config is not None else None

    def convert_task(self, value: object, path: str, image: object, pipeline: str) -> Any:
        task = self.mapping(value, path, _TASK_FIELDS)
        if task is None:
            return value
        converted = {key: task[key] for key in _TASK_FIELDS if key in task and key != "steps"}
        if "image" not in converted and image is not None:
            converted["image"] = image
            self.rename(
                join_path(path, "image"),
                join_path(pipeline, "executor", "containerConfig", "image"),
            )
        if "steps" in task:
            converted["steps"] = self.convert_steps(task["steps"], join_path(path, "steps"))
        return converted

    def convert_steps(self, value: object, path: str) -> Any:
        # Early v1alpha1 manifests wrote steps as a mapping of step names to steps.
        if isinstance(value, dict):
            entries = [
                (join_path(path, name), {"name": name, **step} if isinstance(step, dict) else step)
                for name, step in value.items()
            ]
        elif isinstance(value, list):
            entries = [(join_path(path, index), step) for index, step in enumerate(value)]
        else:
            self.error(path, f"expected a list of steps, got {describe_type(value)}")
            return value
        steps = []
        for index, (legacy, entry) in enumerate(entries):
            v1 = join_path(path, index)
            self.rename(v1, legacy)
            if isinstance(value, dict):
                self.rename(join_path(v1, "name"), legacy)
            step = self.mapping(entry, legacy, _STEP_FIELDS)
            if step is None:
                steps.append(entry)
                continue
            kind = step.get("type", "shell")
            if kind != "shell":
                self.error(
                    join_path(legacy, "type"),
                    f"unknown step type {_shown(kind)}: v1alpha1 steps are 'shell'",
                )
            if "cmd" not in step:
                self.error(join_path(legacy, "cmd"), "required")
            converted: dict[str, Any] = {
                key: step[key] for key in ("name", "description") if key in step
            }
            if "cmd" in step:
                converted["run"] = step["cmd"]
                self.rename(join_path(v1, "run"), join_path(legacy, "cmd"))
            steps.append(converted)
        return steps


def convert_legacy(document: dict[str, Any]) -> LegacyConversion:
    """The v1 form of a v1alpha1 Workflow; raises Invalid naming legacy paths."""
    converter = _Converter()
    converted = converter.convert(document)
    if converter.errors:
        raise Invalid(converter.errors)
    return LegacyConversion(converted, converter.notes, converter.paths)


def _shown(value: object) -> str:
    return f"'{value}'" if isinstance(value, str) else describe_type(value)
