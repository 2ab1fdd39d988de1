"""Run reports: local ones (JSON files under ~/.xene/reports/) and the server's runs, filtered
and tabulated alike. Both are PipelineRun objects; a local report also says where it came from.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from xene.ctl.ages import NONE, age, elapsed
from xene.ctl.tables import Table, dig, run_pipeline_name

Object = Mapping[str, Any]
REPORTS_ENV = "XENE_REPORTS_DIR"
REPORT_SOURCE_ANNOTATION = "xene.dev/source"


def reports_dir() -> Path:
    """Where local reports are written: $XENE_REPORTS_DIR, else ~/.xene/reports."""
    configured = os.environ.get(REPORTS_ENV)
    return Path(configured).expanduser() if configured else Path.home() / ".xene" / "reports"


def load_local_reports(directory: Path) -> list[dict[str, Any]]:
    """Every readable report in `directory` (a run still going has no report yet)."""
    reports: list[dict[str, Any]] = []
    if not directory.is_dir():
        return reports
    for path in sorted(directory.glob("*.json")):
        try:
            report = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(report, dict) and report.get("kind") == "PipelineRun":
            reports.append(report)
    return reports


def source_of(run: Object) -> str:
    """`local` for a local report, else `server`."""
    annotations = dig(run, "metadata", "annotations") or {}
    return "local" if annotations.get(REPORT_SOURCE_ANNOTATION) == "local" else "server"


@dataclass(frozen=True)
class ReportFilter:
    """What `xenectl report` narrows to; None means any."""

    workflow: str | None = None
    pipeline: str | None = None
    run: int | None = None
    task: str | None = None
    status: str | None = None

    def matches(self, run: Object) -> bool:
        """True when `run` passes every filter given; with a task, status is the task's."""
        spec = run.get("spec") or {}
        if self.workflow and spec.get("workflow") != self.workflow:
            return False
        if self.pipeline and self.pipeline not in (
            spec.get("pipeline"),
            run_pipeline_name(run),
            f"{spec.get('workflow')}/{spec.get('pipeline')}",
        ):
            return False
        if self.run is not None and spec.get("number") != self.run:
            return False
        phase = dig(run, "status", "phase")
        if self.task:
            task = dig(run, "status", "tasks", self.task)
            if not isinstance(task, Mapping):
                return False
            phase = task.get("phase")
        return not self.status or str(phase or "").lower() == self.status.lower()


def newest_first(runs: Iterable[Object]) -> list[Object]:
    """Runs by start (or creation) time, newest first."""

    def key(run: Object) -> tuple[str, int]:
        moment = dig(run, "status", "startedAt") or dig(run, "metadata", "creationTimestamp")
        number = dig(run, "spec", "number")
        return (str(moment or ""), number if isinstance(number, int) else 0)

    return sorted(runs, key=key, reverse=True)


def _tasks_summary(run: Object) -> str:
    tasks = dig(run, "status", "tasks") or {}
    if not isinstance(tasks, Mapping) or not tasks:
        return NONE
    succeeded = sum(1 for t in tasks.values() if dig(t, "phase") == "Succeeded")
    return f"{succeeded}/{len(tasks)}"


def report_table(runs: Iterable[Object], now: datetime, task: str | None = None) -> Table:
    """SOURCE, PIPELINE, RUN, STATUS, TRIGGER, STARTED, DURATION, TASKS (or the one TASK)."""
    headers = ["SOURCE", "PIPELINE", "RUN", "STATUS", "TRIGGER", "STARTED", "DURATION"]
    headers += ["TASK", "TASK STATUS", "TASK TIME"] if task else ["TASKS OK"]
    rows = []
    for run in runs:
        status = run.get("status") or {}
        spec = run.get("spec") or {}
        row = [
            source_of(run),
            f"{spec.get('workflow')}/{spec.get('pipeline')}",
            str(spec.get("number") or NONE),
            str(status.get("phase") or "Pending"),
            str(dig(spec, "trigger", "type") or NONE),
            age(status.get("startedAt"), now),
            elapsed(status.get("startedAt"), status.get("finishedAt"), now),
        ]
        if task:
            entry = dig(status, "tasks", task) or {}
            row += [
                task,
                str(entry.get("phase") or NONE),
                elapsed(entry.get("startedAt"), entry.get("finishedAt"), now),
            ]
        else:
            row.append(_tasks_summary(run))
        rows.append(row)
    phases = frozenset({3, 8} if task else {3})
    return Table(headers=headers, rows=rows, phase_columns=phases)
