"""The columns `get` shows for each kind, rendered as a rich table or as plain aligned text."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from rich.console import Console
from rich.table import Table as RichTable
from rich.text import Text

from xene.api.pipeline import unschedulable_reason
from xene.ctl.ages import NONE, age, elapsed, until
from xene.ctl.formats import CustomColumn
from xene.ctl.jsonpath import Path, format_value
from xene.ctl.output import API_GROUP, PHASE_STYLES

Object = Mapping[str, Any]
COLUMN_GAP = "  "


def dig(obj: Any, *path: str) -> Any:
    """The value at `path` in nested mappings, or None when any step is missing."""
    for key in path:
        if not isinstance(obj, Mapping):
            return None
        obj = obj.get(key)
    return obj


def _text(value: Any) -> str:
    if value is None or value == "" or value == [] or value == {}:
        return NONE
    return str(value)


def _joined(values: Any) -> str:
    return ",".join(str(v) for v in values) if values else NONE


def _pairs(mapping: Any) -> str:
    if not isinstance(mapping, Mapping) or not mapping:
        return NONE
    return ",".join(f"{key}={value}" for key, value in mapping.items())


def _count(value: Any) -> str:
    return str(len(value)) if isinstance(value, Mapping | list) else "0"


@dataclass(frozen=True)
class Column:
    """One column of `get`: its header, how to compute a cell, and whether it holds a phase."""

    header: str
    cell: Callable[[Object, datetime], str]
    wide_only: bool = False
    phase: bool = False


def _name(obj: Object, now: datetime) -> str:
    return _text(dig(obj, "metadata", "name"))


def _age(obj: Object, now: datetime) -> str:
    return age(dig(obj, "metadata", "creationTimestamp"), now)


def _trigger_names(obj: Object, now: datetime) -> str:
    triggers = dig(obj, "spec", "triggers") or []
    return _joined([t.get("name") if isinstance(t, Mapping) else t for t in triggers])


def _run_trigger(obj: Object, now: datetime) -> str:
    trigger = dig(obj, "spec", "trigger") or {}
    kind, name = trigger.get("type"), trigger.get("name")
    return _text(f"{kind}/{name}" if kind and name else kind)


def agent_status(obj: Object) -> str:
    """`Ready`, or `Ready,SchedulingDisabled` for a cordoned agent, as kubectl shows nodes."""
    phase = _text(dig(obj, "status", "phase"))
    return f"{phase},SchedulingDisabled" if dig(obj, "spec", "unschedulable") else phase


def run_pipeline_name(obj: Object) -> str:
    """The Pipeline object a run belongs to: `workflow.pipeline`."""
    workflow, pipeline = dig(obj, "spec", "workflow"), dig(obj, "spec", "pipeline")
    return f"{workflow}.{pipeline}" if workflow and pipeline else _text(pipeline)


def waiting_reason(run: Object, pipeline: Object | None) -> str | None:
    """Why a Pending run cannot start now (its pipeline is NotScheduled); None otherwise."""
    status = run.get("status") or {}
    if (status.get("phase") or "Pending") != "Pending" or status.get("agent") or not pipeline:
        return None
    placement = pipeline.get("status") or {}
    return unschedulable_reason(
        run_pipeline_name(run),
        placement.get("phase") or "NotScheduled",
        placement.get("reason"),
        placement.get("message"),
    )


COLUMNS: dict[str, list[Column]] = {
    "workflows": [
        Column("NAME", _name),
        Column("PIPELINES", lambda o, now: _count(dig(o, "spec", "pipelines"))),
        Column("TRIGGERS", lambda o, now: _count(dig(o, "spec", "triggers"))),
        Column("AGE", _age),
    ],
    "pipelines": [
        Column("NAME", _name),
        Column("WORKFLOW", lambda o, now: _text(dig(o, "spec", "workflow"))),
        Column("STATUS", lambda o, now: _text(dig(o, "status", "phase")), phase=True),
        Column("AGENT", lambda o, now: _text(dig(o, "status", "agent"))),
        Column("TASKS", lambda o, now: _count(dig(o, "spec", "tasks"))),
        Column("TRIGGERS", _trigger_names),
        Column("AGE", _age),
        Column("EXECUTOR", lambda o, now: _text(dig(o, "spec", "executor")), wide_only=True),
        Column("SELECTOR", lambda o, now: _pairs(dig(o, "spec", "agentSelector")), wide_only=True),
        Column("REASON", lambda o, now: _text(dig(o, "status", "reason")), wide_only=True),
    ],
    "triggers": [
        Column("NAME", _name),
        Column("TYPE", lambda o, now: _text(dig(o, "spec", "type"))),
        Column("SCHEDULE", lambda o, now: _text(dig(o, "spec", "schedule"))),
        Column("SUSPEND", lambda o, now: str(bool(dig(o, "spec", "suspend"))).lower()),
        Column("PIPELINES", lambda o, now: _joined(dig(o, "spec", "pipelines"))),
        Column("LAST", lambda o, now: age(dig(o, "status", "lastFireTime"), now)),
        Column("NEXT", lambda o, now: until(dig(o, "status", "nextFireTime"), now)),
        Column("AGE", _age),
        Column("TIMEZONE", lambda o, now: _text(dig(o, "spec", "timezone")), wide_only=True),
        Column("LAST-RUN", lambda o, now: _text(dig(o, "status", "lastRun")), wide_only=True),
        Column("MISSED", lambda o, now: str(dig(o, "status", "missedTicks") or 0), wide_only=True),
        Column(
            "CONCURRENCY", lambda o, now: _text(dig(o, "spec", "concurrencyPolicy")), wide_only=True
        ),
    ],
    "agents": [
        Column("NAME", _name),
        Column("STATUS", lambda o, now: agent_status(o), phase=True),
        Column("CAPACITY", lambda o, now: _text(dig(o, "spec", "capacity"))),
        Column("PIPELINES", lambda o, now: _count(dig(o, "status", "pipelines"))),
        Column("LABELS", lambda o, now: _pairs(dig(o, "metadata", "labels"))),
        Column("HEARTBEAT", lambda o, now: age(dig(o, "status", "lastHeartbeat"), now)),
        Column("AGE", _age),
        Column("RUNNING", lambda o, now: _count(dig(o, "status", "runningRuns")), wide_only=True),
        Column("VERSION", lambda o, now: _text(dig(o, "spec", "version")), wide_only=True),
        Column("HOSTNAME", lambda o, now: _text(dig(o, "spec", "hostname")), wide_only=True),
    ],
    "pipelineruns": [
        Column("NAME", _name),
        Column("PIPELINE", lambda o, now: run_pipeline_name(o)),
        Column("RUN", lambda o, now: _text(dig(o, "spec", "number"))),
        Column("PHASE", lambda o, now: _text(dig(o, "status", "phase")), phase=True),
        Column("TRIGGER", _run_trigger),
        Column("STARTED", lambda o, now: age(dig(o, "status", "startedAt"), now)),
        Column(
            "DURATION",
            lambda o, now: elapsed(
                dig(o, "status", "startedAt"), dig(o, "status", "finishedAt"), now
            ),
        ),
        Column("AGENT", lambda o, now: _text(dig(o, "status", "agent")), wide_only=True),
        Column("COMMIT", lambda o, now: _text(dig(o, "spec", "commit")), wide_only=True),
        Column("MESSAGE", lambda o, now: _text(dig(o, "status", "message")), wide_only=True),
    ],
}


def _run_sort_key(obj: Object) -> tuple[str, int]:
    number = dig(obj, "spec", "number")
    return (run_pipeline_name(obj), number if isinstance(number, int) else 0)


def _path_sort_key(path: Path, obj: Object) -> tuple[int, Any]:
    # kubectl's order: missing first, then numbers, then text; anything else by its JSON.
    values = path.evaluate(obj, obj)
    if not values or values[0] is None:
        return (0, 0)
    value = values[0]
    if isinstance(value, bool):
        return (2, str(value).lower())
    if isinstance(value, int | float):
        return (1, value)
    if isinstance(value, str):
        return (2, value)
    return (3, format_value(value))


def sort_objects(
    kind_plural: str, objects: Iterable[Object], sort_by: Path | None = None
) -> list[Object]:
    """Objects in display order: by `sort_by` when given, else by name, runs by pipeline then
    number (so 10 follows 9). Python's sort is stable: equal keys keep the name order."""
    if kind_plural == "pipelineruns":
        ordered = sorted(objects, key=_run_sort_key)
    else:
        ordered = sorted(objects, key=lambda obj: str(dig(obj, "metadata", "name") or ""))
    if sort_by is not None:
        ordered.sort(key=lambda obj: _path_sort_key(sort_by, obj))
    return ordered


def _labels_cell(obj: Object, now: datetime) -> str:
    return _pairs(dig(obj, "metadata", "labels"))


def _qualified_name(obj: Object, now: datetime) -> str:
    kind = str(obj.get("kind") or "object").lower()
    return f"{kind}.{API_GROUP}/{dig(obj, 'metadata', 'name')}"


def columns_for(
    kind_plural: str, wide: bool = False, show_labels: bool = False, qualified: bool = False
) -> list[Column]:
    """The columns of a kind: wide output adds the wide-only ones, `show_labels` a LABELS
    column (unless the kind has one), `qualified` names objects `kind.xene.dev/name` (when
    several kinds are listed, as kubectl does)."""
    columns = [c for c in COLUMNS[kind_plural] if wide or not c.wide_only]
    if qualified:
        columns = [Column("NAME", _qualified_name) if c.header == "NAME" else c for c in columns]
    if show_labels and not any(c.header == "LABELS" for c in columns):
        columns.append(Column("LABELS", _labels_cell))
    return columns


def _custom_cell(path: Path) -> Callable[[Object, datetime], str]:
    def cell(obj: Object, now: datetime) -> str:
        values = [value for value in path.evaluate(obj, obj) if value is not None]
        return ",".join(format_value(value) for value in values) if values else NONE

    return cell


def custom_columns(columns: Iterable[CustomColumn]) -> list[Column]:
    """The columns of `-o custom-columns=…`."""
    return [Column(column.header, _custom_cell(column.path)) for column in columns]


@dataclass(frozen=True)
class Table:
    """Headers and rows of text, and which columns hold phases (coloured on a terminal)."""

    headers: list[str]
    rows: list[list[str]]
    phase_columns: frozenset[int]

    def widths(self, headers: bool = True) -> list[int]:
        """The width of each column: its widest cell (or header, when shown)."""
        return [
            max([len(self.headers[i]) if headers else 0] + [len(row[i]) for row in self.rows])
            for i in range(len(self.headers))
        ]


def build_table(
    kind_plural: str, objects: Iterable[Object], now: datetime, wide: bool = False
) -> Table:
    """The `get` table of `objects` of one kind, computed at `now`."""
    return table_of(columns_for(kind_plural, wide), objects, now)


def table_of(columns: Sequence[Column], objects: Iterable[Object], now: datetime) -> Table:
    """The table of `objects` in `columns`, computed at `now`."""
    return Table(
        headers=[c.header for c in columns],
        rows=[[c.cell(obj, now) for c in columns] for obj in objects],
        phase_columns=frozenset(i for i, c in enumerate(columns) if c.phase),
    )


def format_plain_line(cells: Sequence[str], widths: Sequence[int]) -> str:
    """Cells padded to `widths` and joined by two spaces, like kubectl; no trailing spaces."""
    padded = (cell.ljust(width) for cell, width in zip(cells, widths, strict=True))
    return COLUMN_GAP.join(padded).rstrip()


def render_plain(table: Table, headers: bool = True) -> str:
    """The table as aligned text columns with an upper-case header, for pipes and files."""
    widths = table.widths(headers)
    rows = [table.headers, *table.rows] if headers else table.rows
    return "".join(format_plain_line(row, widths) + "\n" for row in rows)


def styled_cell(text: str, phase: bool) -> Text:
    """A cell as rich text, coloured when it holds a known phase."""
    return Text(text, style=PHASE_STYLES.get(text.strip(), "") if phase else "")


def render_rich(console: Console, table: Table, headers: bool = True) -> None:
    """The table with a bold header and coloured phases, for a terminal."""
    rich_table = RichTable(
        box=None,
        show_edge=False,
        pad_edge=False,
        header_style="bold",
        padding=(0, 1),
        show_header=headers,
    )
    for header in table.headers:
        rich_table.add_column(header, no_wrap=True)
    for row in table.rows:
        rich_table.add_row(
            *(styled_cell(cell, i in table.phase_columns) for i, cell in enumerate(row))
        )
    # Like kubectl, never shorten a cell to fit a narrow terminal: the terminal wraps the line.
    natural = sum(table.widths()) + len(COLUMN_GAP) * len(table.headers)
    terminal_width = console.width
    console.width = max(terminal_width, natural)
    try:
        console.print(rich_table, crop=False)
    finally:
        console.width = terminal_width


class RowPrinter:
    """Prints a table's rows as they arrive (watch), keeping the widths of the first rows."""

    def __init__(self, console: Console, columns: Sequence[Column], headers: bool = True) -> None:
        self._console = console
        self._columns = list(columns)
        self._headers = headers
        self._widths: list[int] | None = None

    def print_objects(self, objects: Iterable[Object], now: datetime) -> None:
        """Print rows for `objects`, with the header first the first time."""
        table = table_of(self._columns, objects, now)
        lines: list[tuple[list[str], bool]] = [(row, False) for row in table.rows]
        if self._widths is None:
            self._widths = table.widths()
            if self._headers:
                lines.insert(0, (table.headers, True))
        for cells, is_header in lines:
            widths = [max(w, len(c)) for w, c in zip(self._widths, cells, strict=True)]
            if not self._console.is_terminal:
                self._console.file.write(format_plain_line(cells, widths) + "\n")
                continue
            line = Text(style="bold" if is_header else "")
            for i, cell in enumerate(cells):
                if i:
                    line.append(COLUMN_GAP)
                padded = cell.ljust(widths[i]) if i < len(cells) - 1 else cell
                line.append_text(styled_cell(padded, i in table.phase_columns and not is_header))
            self._console.print(line)
        self._console.file.flush()
