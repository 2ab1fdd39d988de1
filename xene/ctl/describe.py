"""`describe`: a readable multi-section view of one object, kind by kind."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from rich.console import Console
from rich.text import Text

from xene.api.executors import DEFAULT_EXECUTOR
from xene.api.graph import display_order
from xene.ctl.ages import NONE, age, elapsed, parse_timestamp, timestamp_with_age
from xene.ctl.output import PHASE_STYLES
from xene.ctl.tables import agent_status, dig, run_pipeline_name, waiting_reason

Object = Mapping[str, Any]
INDENT = "  "


@dataclass(frozen=True)
class Line:
    """A `Label: value` line, a section heading when `value` is None, or (`raw`) a line of
    text such as a table row, printed as it is."""

    depth: int
    label: str
    value: str | None
    phase: bool = False
    raw: bool = False


@dataclass(frozen=True)
class Related:
    """What a describe view shows besides the object itself, read by the command."""

    # A workflow's Pipeline objects by name; for a run, its own pipeline.
    pipelines: Mapping[str, Object] = field(default_factory=dict)
    # A pipeline's most recent runs, newest first, and how many it has in all.
    runs: Sequence[Object] = ()
    run_count: int = 0
    # A run's recorded events, oldest first.
    events: Sequence[Object] = ()
    # A webhook trigger's delivery URLs and whether the server holds its secret.
    webhook: Object | None = None


@dataclass
class Description:
    """The lines of a describe view; values of neighbouring fields line up like kubectl's."""

    lines: list[Line] = field(default_factory=list)

    def field(self, label: str, value: Any, depth: int = 0, phase: bool = False) -> None:
        """A `Label: value` line; empty values show as `<none>`."""
        text = NONE if value is None or value == "" else str(value)
        self.lines.append(Line(depth, label, text, phase))

    def values(self, label: str, values: Iterable[str], depth: int = 0) -> None:
        """A label with one value per line, or `<none>`."""
        items = list(values)
        if not items:
            self.field(label, NONE, depth)
            return
        self.field(label, items[0], depth)
        for item in items[1:]:
            self.lines.append(Line(depth, "", item))

    def section(self, label: str, depth: int = 0) -> None:
        """A heading; what follows at depth + 1 belongs to it."""
        self.lines.append(Line(depth, label, None))

    def table(self, headers: Sequence[str], rows: Sequence[Sequence[str]], depth: int) -> None:
        """Rows under a header, columns padded to line up (kubectl's Events)."""
        widths = [
            max([len(headers[i])] + [len(row[i]) for row in rows]) for i in range(len(headers))
        ]
        for cells in [list(headers), *rows]:
            padded = "  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True))
            self.lines.append(Line(depth, "", padded.rstrip(), raw=True))

    def _label_widths(self) -> list[int]:
        # Values line up within each run of field lines at one depth, as kubectl's tabwriter does.
        widths = [0] * len(self.lines)
        start = 0
        while start < len(self.lines):
            end = start
            depth = self.lines[start].depth
            while (
                end < len(self.lines)
                and self.lines[end].value is not None
                and not self.lines[end].raw
                and self.lines[end].depth == depth
            ):
                end += 1
            if end == start:
                start += 1
                continue
            width = max(len(line.label) + 1 for line in self.lines[start:end])
            for i in range(start, end):
                widths[i] = width
            start = end
        return widths

    def render_plain(self) -> str:
        """Plain text, for pipes and files."""
        out = []
        for line, width in zip(self.lines, self._label_widths(), strict=True):
            prefix = INDENT * line.depth
            if line.raw:
                out.append(f"{prefix}{line.value}")
            elif line.value is None:
                out.append(f"{prefix}{line.label}:")
            else:
                label = f"{line.label}:" if line.label else ""
                out.append(f"{prefix}{label.ljust(width)}  {line.value}".rstrip())
        return "".join(text + "\n" for text in out)

    def render_rich(self, console: Console) -> None:
        """Bold headings and coloured phases, for a terminal."""
        for line, width in zip(self.lines, self._label_widths(), strict=True):
            text = Text(INDENT * line.depth)
            if line.raw:
                text.append(line.value or "")
            elif line.value is None:
                text.append(f"{line.label}:", style="bold")
            else:
                label = f"{line.label}:" if line.label else ""
                text.append(label.ljust(width) + "  ", style="bold" if line.depth == 0 else "")
                # A phase may carry a detail after it, as in `Error (exit 2)`.
                phase = line.value.split(" ", 1)[0]
                style = PHASE_STYLES.get(phase, "") if line.phase else ""
                text.append(line.value, style=style)
            console.print(text)


def _joined(values: Any, empty: str = NONE) -> str:
    """Items of a list, comma-separated, whatever their type; `empty` for none."""
    if not isinstance(values, list) or not values:
        return empty
    return ", ".join(
        str(value.get("name", value)) if isinstance(value, Mapping) else str(value)
        for value in values
    )


def _pairs(mapping: Any) -> list[str]:
    if not isinstance(mapping, Mapping):
        return []
    return [f"{key}={value}" for key, value in mapping.items()]


def _metadata(out: Description, obj: Object, now: datetime) -> None:
    metadata = obj.get("metadata") or {}
    out.field("Name", metadata.get("name"))
    out.field("Kind", obj.get("kind"))
    out.values("Labels", _pairs(metadata.get("labels")))
    out.values("Annotations", _pairs(metadata.get("annotations")))
    owners = [
        f"{ref.get('kind')}/{ref.get('name')}"
        for ref in metadata.get("ownerReferences") or []
        if isinstance(ref, Mapping)
    ]
    if owners:
        out.values("Owned By", owners)
    out.field("UID", metadata.get("uid"))
    out.field("Resource Version", metadata.get("resourceVersion"))
    if metadata.get("generation") is not None:
        out.field("Generation", metadata.get("generation"))
    out.field("Created", timestamp_with_age(metadata.get("creationTimestamp"), now))


def task_order(tasks: Mapping[str, Any]) -> list[str]:
    """Task names with every task after its dependencies; ties keep the written order."""
    return display_order(
        {
            name: [d for d in dig(tasks, name, "dependencies") or [] if isinstance(d, str)]
            for name in tasks
        }
    )


def _run_settings(out: Description, pipeline: Mapping[str, Any], depth: int) -> None:
    """The pipeline's timeout and shared container, when it has them."""
    if pipeline.get("timeout"):
        out.field("Timeout", pipeline.get("timeout"), depth)
    shared = pipeline.get("sharedContainer")
    if isinstance(shared, Mapping):
        out.section("Shared Container", depth)
        out.field("Image", shared.get("image"), depth + 1)
        out.field("Working Dir", shared.get("workingDir") or "/workspace", depth + 1)


def _tasks(out: Description, tasks: Any, depth: int, shared: bool = False) -> None:
    if not isinstance(tasks, Mapping) or not tasks:
        out.field("Tasks", NONE, depth)
        return
    out.section("Tasks", depth)
    for name in task_order(tasks):
        task = tasks[name] if isinstance(tasks[name], Mapping) else {}
        out.section(name, depth + 1)
        if not shared:
            out.field("Image", task.get("image") or "(executor default)", depth + 2)
        if task.get("workingDir"):
            out.field("Working Dir", task.get("workingDir"), depth + 2)
        out.field("Depends On", _joined(task.get("dependencies")), depth + 2)
        steps = [
            str(step.get("name")) + (" (may fail)" if step.get("allowFailure") else "")
            for step in task.get("steps") or []
            if isinstance(step, Mapping)
        ]
        out.field("Steps", ", ".join(steps), depth + 2)
        if task.get("timeout"):
            out.field("Timeout", task.get("timeout"), depth + 2)
        if task.get("waitTimeout"):
            out.field("Wait Timeout", task.get("waitTimeout"), depth + 2)
        if task.get("allowFailure"):
            out.field("Allow Failure", "yes (the run does not fail for it)", depth + 2)
        retries = task.get("retries")
        if isinstance(retries, Mapping) and retries.get("limit"):
            out.field(
                "Retries", f"{retries['limit']} (backoff {retries.get('backoff', '0s')})", depth + 2
            )


def _trigger_summary(trigger: Mapping[str, Any]) -> str:
    kind = trigger.get("type")
    if kind == "cron":
        detail = f"cron '{trigger.get('schedule')}'"
        if trigger.get("timezone"):
            detail += f" {trigger['timezone']}"
    elif kind == "webhook":
        detail = "webhook"
    else:
        detail = str(kind)
    if trigger.get("suspend"):
        detail += ", suspended"
    return f"{trigger.get('name')}: {detail}"


def _trigger_fields(
    out: Description, spec: Mapping[str, Any], depth: int, status: Mapping[str, Any] | None = None
) -> None:
    out.field("Type", spec.get("type"), depth)
    if spec.get("type") == "cron":
        out.field("Schedule", spec.get("schedule"), depth)
        out.field("Timezone", spec.get("timezone") or "UTC", depth)
        out.field("Concurrency Policy", spec.get("concurrencyPolicy") or "Allow", depth)
        if spec.get("startingDeadline"):
            out.field("Starting Deadline", spec.get("startingDeadline"), depth)
    if spec.get("secretEnv"):
        out.field("Secret", f"from ${spec['secretEnv']} on the API server", depth)
    elif spec.get("secretFile"):
        out.field("Secret", f"from file {spec['secretFile']} on the API server", depth)
    suspended = "yes" if spec.get("suspend") else "no"
    override = (status or {}).get("suspendOverride")
    if isinstance(override, Mapping):
        workflow_says = "yes" if override.get("workflowSuspend") else "no"
        suspended += (
            f" (set by hand {_when(override.get('setAt'))}; the workflow says {workflow_says}, "
            "and wins once it changes suspend)"
        )
    out.field("Suspended", suspended, depth)


def _when(value: Any) -> str:
    moment = parse_timestamp(value)
    if moment is None:
        return ""
    return f"at {moment.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%SZ')}"


def _placement(out: Description, pipeline: Object, now: datetime, depth: int) -> None:
    status = pipeline.get("status") or {}
    out.field("Status", status.get("phase") or "NotScheduled", depth, phase=True)
    out.field("Agent", status.get("agent"), depth)
    if status.get("reason") or status.get("message"):
        out.field("Reason", status.get("reason"), depth)
        out.field("Message", status.get("message"), depth)
    if status.get("agentPhase"):
        out.field("Agent Status", status.get("agentPhase"), depth, phase=True)
    if status.get("scheduledAt"):
        out.field("Scheduled", timestamp_with_age(status.get("scheduledAt"), now), depth)
    if status.get("lastRun") is not None:
        out.field("Last Run", status.get("lastRun"), depth)


def describe_workflow(obj: Object, now: datetime, related: Related, out: Description) -> None:
    """Triggers, then each pipeline with its tasks and placement, then status."""
    spec = obj.get("spec") or {}
    triggers = [t for t in spec.get("triggers") or [] if isinstance(t, Mapping)]
    if triggers:
        out.section("Triggers")
        for trigger in triggers:
            out.section(str(trigger.get("name")), 1)
            _trigger_fields(out, trigger, 2)
    else:
        out.field("Triggers", NONE)
    out.section("Pipelines")
    workflow_name = dig(obj, "metadata", "name")
    for name, pipeline in (spec.get("pipelines") or {}).items():
        out.section(name, 1)
        out.field("Executor", pipeline.get("executor") or DEFAULT_EXECUTOR, 2)
        out.field("Agent Selector", ", ".join(_pairs(pipeline.get("agentSelector"))) or NONE, 2)
        out.field("Triggers", _joined(pipeline.get("triggers"), "manual only"), 2)
        _run_settings(out, pipeline, 2)
        derived = related.pipelines.get(f"{workflow_name}.{name}")
        if derived is not None:
            out.section("Placement", 2)
            _placement(out, derived, now, 3)
        _tasks(out, pipeline.get("tasks"), 2, shared=bool(pipeline.get("sharedContainer")))
    status = obj.get("status") or {}
    out.section("Status")
    out.field("Observed Generation", status.get("observedGeneration"), 1)
    out.field("Pipelines", _joined(status.get("pipelines")), 1)
    out.field("Triggers", _joined(status.get("triggers")), 1)


def describe_pipeline(obj: Object, now: datetime, related: Related, out: Description) -> None:
    """Source, executor, selector, triggers, tasks, where it is placed, and its recent runs."""
    spec = obj.get("spec") or {}
    out.field("Workflow", spec.get("workflow"))
    out.field("Pipeline", spec.get("pipeline"))
    out.field("Executor", spec.get("executor") or DEFAULT_EXECUTOR)
    out.field("Agent Selector", ", ".join(_pairs(spec.get("agentSelector"))) or NONE)
    triggers = [t for t in spec.get("triggers") or [] if isinstance(t, Mapping)]
    out.values("Triggers", [_trigger_summary(t) for t in triggers] or ["manual only"])
    if spec.get("env"):
        out.values("Environment", _pairs(spec.get("env")))
    _run_settings(out, spec, 0)
    _tasks(out, spec.get("tasks"), 0, shared=bool(spec.get("sharedContainer")))
    out.section("Placement")
    _placement(out, obj, now, 1)
    _recent_runs(out, related, now)


def _recent_runs(out: Description, related: Related, now: datetime) -> None:
    if not related.runs:
        out.field("Recent Runs", NONE)
        return
    heading = "Recent Runs"
    if related.run_count > len(related.runs):
        heading += f" (newest {len(related.runs)} of {related.run_count})"
    out.section(heading)
    rows = [
        [
            str(dig(run, "spec", "number") or NONE),
            str(dig(run, "status", "phase") or "Pending"),
            _trigger_text(dig(run, "spec", "trigger") or {}),
            age(dig(run, "status", "startedAt"), now),
            elapsed(dig(run, "status", "startedAt"), dig(run, "status", "finishedAt"), now),
        ]
        for run in related.runs
    ]
    out.table(["RUN", "PHASE", "TRIGGER", "STARTED", "DURATION"], rows, 1)


def describe_trigger(obj: Object, now: datetime, related: Related, out: Description) -> None:
    """The schedule or webhook, the pipelines it starts, and when it fired."""
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    out.field("Workflow", spec.get("workflow"))
    _trigger_fields(out, spec, 0, status)
    if spec.get("type") == "webhook":
        _webhook(out, related.webhook)
    out.values("Pipelines", [str(p) for p in spec.get("pipelines") or []])
    out.section("Status")
    out.field("Last Fired", timestamp_with_age(status.get("lastFireTime"), now), 1)
    if spec.get("type") == "cron":
        suspended = "(suspended)" if spec.get("suspend") else None
        next_fire = status.get("nextFireTime")
        out.field("Next Fire", suspended or timestamp_with_age(next_fire, now), 1)
    out.field("Last Run", status.get("lastRun"), 1)
    if status.get("missedTicks"):
        out.field("Missed Ticks", status.get("missedTicks"), 1)


def _webhook(out: Description, webhook: Object | None) -> None:
    if webhook is None:
        out.field("URL", "(unknown: the server did not say)")
        return
    out.values("URL", [str(url) for url in webhook.get("urls") or []] or [NONE])
    secret = webhook.get("secret") or {}
    if secret.get("present"):
        out.field("Secret Present", "yes (on the API server that answered)")
    else:
        out.field("Secret Present", f"NO: {secret.get('problem') or 'not configured'}")


def describe_agent(obj: Object, now: datetime, related: Related, out: Description) -> None:
    """What the agent declared, its liveness and the pipelines placed on it."""
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    out.field("Status", agent_status(obj), phase=True)
    out.field("Unschedulable", "true (cordoned)" if spec.get("unschedulable") else "false")
    out.field("Capacity", spec.get("capacity"))
    out.field("Executors", _joined(spec.get("executors")))
    out.field("Version", spec.get("version"))
    out.field("Hostname", spec.get("hostname"))
    out.field("Last Heartbeat", timestamp_with_age(status.get("lastHeartbeat"), now))
    out.field("Connected", timestamp_with_age(status.get("connectedAt"), now))
    out.field("Server", status.get("server"))
    if status.get("message"):
        out.field("Message", status.get("message"))
    out.values("Pipelines", [str(p) for p in status.get("pipelines") or []])
    out.values("Running Runs", [str(r) for r in status.get("runningRuns") or []])


def _trigger_text(trigger: Mapping[str, Any]) -> str:
    text = str(trigger.get("type") or "manual")
    if trigger.get("name"):
        text += f" {trigger['name']}"
    if trigger.get("user"):
        text += f" by {trigger['user']}"
    if trigger.get("rerunOf"):
        text += f" (rerun of {trigger['rerunOf']})"
    return text


def describe_run(obj: Object, now: datetime, related: Related, out: Description) -> None:
    """What started the run, its phase and timing (and why it waits), each task in DAG order
    with its steps, and the run's events."""
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    pipeline_name = run_pipeline_name(obj)
    pipeline = related.pipelines.get(pipeline_name)
    out.field("Pipeline", pipeline_name)
    out.field("Run", spec.get("number"))
    out.field("Trigger", _trigger_text(spec.get("trigger") or {}))
    if spec.get("commit"):
        out.field("Commit", spec.get("commit"))
    if spec.get("parameters"):
        out.values("Parameters", _pairs(spec.get("parameters")))
    out.section("Status")
    out.field("Phase", status.get("phase") or "Pending", 1, phase=True)
    reason = waiting_reason(obj, pipeline)
    if reason is not None:
        out.field("Waiting", reason, 1)
    out.field("Agent", status.get("agent"), 1)
    out.field("Started", timestamp_with_age(status.get("startedAt"), now), 1)
    out.field("Finished", timestamp_with_age(status.get("finishedAt"), now), 1)
    out.field("Duration", elapsed(status.get("startedAt"), status.get("finishedAt"), now), 1)
    if status.get("message"):
        out.field("Message", status.get("message"), 1)
    if status.get("cancelRequested"):
        out.field("Cancel Requested", "yes", 1)
    attempts = [a for a in status.get("attempts") or [] if isinstance(a, Mapping)]
    if len(attempts) > 1:
        out.values(
            "Attempts",
            [
                f"#{a.get('number')} on {a.get('agent') or NONE}: {a.get('result') or 'running'}"
                for a in attempts
            ],
            1,
        )
    _run_tasks(out, status.get("tasks") or {}, dig(pipeline, "spec", "tasks") or {}, now)
    _events(out, related.events, now)


def _run_tasks(
    out: Description, tasks: Mapping[str, Any], specs: Mapping[str, Any], now: datetime
) -> None:
    if not tasks and not specs:
        out.field("Tasks", NONE)
        return
    order = task_order(specs) if specs else []
    order += [name for name in tasks if name not in order]
    out.section("Tasks")
    for name in order:
        task = tasks.get(name) or {}
        out.section(name, 1)
        out.field("Phase", task.get("phase") or "Waiting", 2, phase=True)
        if task.get("allowFailure"):
            out.field("Allow Failure", "yes", 2)
        depends = dig(specs, name, "dependencies")
        if depends:
            out.field("Depends On", _joined(depends), 2)
        if task.get("attempt", 0) > 1:
            out.field("Attempt", task.get("attempt"), 2)
        out.field("Duration", elapsed(task.get("startedAt"), task.get("finishedAt"), now), 2)
        if task.get("message"):
            out.field("Message", task.get("message"), 2)
        steps = [s for s in task.get("steps") or [] if isinstance(s, Mapping)]
        if steps:
            out.section("Steps", 2)
            for step in steps:
                state = str(step.get("state") or "NotExecuted")
                if step.get("exitCode") is not None:
                    state += f" (exit {step['exitCode']})"
                out.field(str(step.get("name")), state, 3, phase=True)


def _event_object(event: Mapping[str, Any]) -> str:
    task, step = event.get("task"), event.get("step")
    if task and step:
        return f"{task}/{step}"
    return str(task) if task else "run"


def _event_message(event: Mapping[str, Any]) -> str:
    parts = []
    if event.get("message"):
        parts.append(str(event["message"]))
    if event.get("exitCode") is not None:
        parts.append(f"exit {event['exitCode']}")
    if isinstance(event.get("attempt"), int) and event["attempt"] > 1:
        parts.append(f"attempt {event['attempt']}")
    if event.get("allowFailure") and event.get("type") == "TaskFailed":
        parts.append("allowed to fail")
    if event.get("delaySeconds"):
        parts.append(f"retry in {event['delaySeconds']}s")
    if event.get("tasks"):
        parts.append("tasks: " + ", ".join(str(t) for t in event["tasks"]))
    if event.get("notifier"):
        parts.append(f"notifier {event['notifier']}")
    return "; ".join(parts)


def _events(out: Description, events: Sequence[Object], now: datetime) -> None:
    if not events:
        out.field("Events", NONE)
        return
    out.section("Events")
    rows = [
        [
            age(event.get("time"), now),
            str(event.get("type") or event.get("kind") or "?"),
            _event_object(event),
            _event_message(event),
        ]
        for event in events
    ]
    out.table(["AGE", "EVENT", "OBJECT", "MESSAGE"], rows, 1)


Describer = Callable[[Object, datetime, Related, Description], None]

DESCRIBERS: dict[str, Describer] = {
    "workflows": describe_workflow,
    "pipelines": describe_pipeline,
    "triggers": describe_trigger,
    "agents": describe_agent,
    "pipelineruns": describe_run,
}


def describe(
    kind_plural: str, obj: Object, now: datetime, related: Related | None = None
) -> Description:
    """The describe view of `obj`; `related` holds what it refers to (pipelines, runs, events)."""
    out = Description()
    _metadata(out, obj, now)
    DESCRIBERS[kind_plural](obj, now, related or Related(), out)
    return out
