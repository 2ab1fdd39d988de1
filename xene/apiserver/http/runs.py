"""Routes for runs under /api/v1: start one by hand, list and filter, cancel, logs and events."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, get_args

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse

from xene.api.errors import BadRequest, FieldError, Invalid, NotFound, Unavailable
from xene.api.meta import API_VERSION
from xene.api.pipeline import pipeline_object_name
from xene.api.run import PipelineRun, RunPhase, RunTrigger, TriggerKind
from xene.api.validation import env_name_problem
from xene.apiserver.http.body import read_capped
from xene.apiserver.http.objects import parse_label_selector, watch_stream
from xene.apiserver.services.logstore import LogRecord, LogStore
from xene.apiserver.services.objects import ObjectService
from xene.apiserver.services.run_index import (
    MAX_PAGE_SIZE,
    RunEntry,
    RunIndex,
    RunPage,
    RunQuery,
    decode_continue,
    page_of,
)
from xene.apiserver.services.run_reports import RunReportService
from xene.apiserver.services.runs import RunService

MAX_PARAMETERS = 64
MAX_PARAMETER_VALUE_BYTES = 4096
# How often a log follower checks whether its run has finished.
FINISH_POLL_SECONDS = 0.5
PHASES = [phase.value for phase in RunPhase]


def parse_run_request(raw: bytes) -> dict[str, str]:
    """The parameters of a run request body `{"parameters": {"k": "v"}}` (body optional)."""
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"request body is not JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise Invalid([FieldError("", 'the body must be a JSON object: {"parameters": {...}}')])
    problems = [
        FieldError(key, "unknown field (expected only 'parameters')")
        for key in body
        if key != "parameters"
    ]
    parameters = body.get("parameters") or {}
    if not isinstance(parameters, dict):
        problems.append(FieldError("parameters", "must be an object of names to strings"))
        raise Invalid(problems)
    if len(parameters) > MAX_PARAMETERS:
        problems.append(
            FieldError("parameters", f"at most {MAX_PARAMETERS} parameters (got {len(parameters)})")
        )
    for key, value in parameters.items():
        name_problem = env_name_problem(key)
        if name_problem:
            problems.append(FieldError(f"parameters.{key}", name_problem))
        if not isinstance(value, str):
            problems.append(
                FieldError(f"parameters.{key}", f"must be a string (got {type(value).__name__})")
            )
        elif len(value.encode()) > MAX_PARAMETER_VALUE_BYTES:
            problems.append(
                FieldError(
                    f"parameters.{key}", f"must be at most {MAX_PARAMETER_VALUE_BYTES} bytes"
                )
            )
        elif "\0" in value:
            problems.append(FieldError(f"parameters.{key}", "must not contain a NUL character"))
    if problems:
        raise Invalid(problems)
    return dict(parameters)


def parse_phases(text: str | None) -> frozenset[RunPhase] | None:
    """The `phase` filter, one phase or several separated by commas."""
    if not text:
        return None
    phases = {parse_phase(part.strip()) for part in text.split(",") if part.strip()}
    return frozenset(phase for phase in phases if phase is not None) or None


def parse_trigger_kind(text: str | None) -> str | None:
    """The `trigger` filter: a trigger kind; Invalid naming the known kinds otherwise."""
    if not text:
        return None
    kinds = get_args(TriggerKind)
    if text.lower() not in kinds:
        raise Invalid([FieldError("trigger", f"'{text}' is not one of {', '.join(kinds)}")])
    return text.lower()


def parse_phase(text: str | None) -> RunPhase | None:
    """The `phase` filter; Invalid naming the known phases otherwise."""
    if not text:
        return None
    for phase in RunPhase:
        if phase.value.lower() == text.lower():
            return phase
    raise Invalid([FieldError("phase", f"'{text}' is not one of {', '.join(PHASES)}")])


def log_line(record: LogRecord, raw: bool, timestamps: bool = False) -> str:
    """One line of the logs endpoint: `[task/step] text`, or the text alone for one step;
    with `timestamps`, led by the time the line was written (RFC 3339, as kubectl shows it)."""
    text = record.line + "\n" if raw else f"[{record.task}/{record.step}] {record.line}\n"
    if timestamps:
        moment = datetime.fromtimestamp(record.time, UTC)
        text = moment.strftime("%Y-%m-%dT%H:%M:%S.%f") + "Z " + text
    return text


@dataclass(frozen=True)
class LogQuery:
    """What a logs request asks for: which lines, how many of the last, since when, how shown."""

    task: str | None = None
    step: str | None = None
    attempt: int | None = None
    tail_lines: int | None = None
    since_seconds: int | None = None
    timestamps: bool = False

    @property
    def filters(self) -> dict[str, Any]:
        """The log store's own filters."""
        return {"task": self.task, "step": self.step, "attempt": self.attempt}

    @property
    def raw(self) -> bool:
        """One step's lines are sent without the `[task/step]` prefix."""
        return self.task is not None and self.step is not None


class LogFollower:
    """Formats a run's lines; with `lines()`, streams them as they arrive and ends once the run
    is finished and all are out, or once the run cannot start (its pipeline is NotScheduled).

    Lines are counted per attempt as they are consumed (sent, or left out by `since`/`tail`),
    so the final read after the run finished sends exactly what the follow had not yet.
    """

    def __init__(self, runs: RunService, logs: LogStore, run: str, query: LogQuery) -> None:
        self.runs = runs
        self.logs = logs
        self.run = run
        self.query = query
        self.since = time.time() - query.since_seconds if query.since_seconds is not None else None
        self.skip = 0
        self.consumed: dict[int, int] = {}
        self.last_attempt: int | None = None

    def consume(self, record: LogRecord) -> str:
        """The text for one record ('' when left out), after a separator when a new attempt
        begins."""
        self.consumed[record.attempt] = self.consumed.get(record.attempt, 0) + 1
        if self.skip > 0:
            self.skip -= 1
            return ""
        if self.since is not None and record.time < self.since:
            return ""
        text = ""
        if self.last_attempt is not None and record.attempt != self.last_attempt:
            text = f"--- attempt {record.attempt} ---\n"
        self.last_attempt = record.attempt
        return text + log_line(record, self.query.raw, self.query.timestamps)

    async def stored(self) -> str:
        """Every stored line as text, honouring `tail` and `since`."""
        records = await self.logs.read(self.run, **self.query.filters)
        self._skip_to_tail(records)
        return "".join(self.consume(record) for record in records)

    def _skip_to_tail(self, records: list[LogRecord]) -> None:
        """Leave out every stored line before the last `tail_lines` ones (of those since
        `since`, as kubectl counts them)."""
        tail = self.query.tail_lines
        if tail is None:
            return
        eligible = [
            position
            for position, record in enumerate(records)
            if self.since is None or record.time >= self.since
        ]
        if tail == 0:
            self.skip = len(records)
        elif len(eligible) > tail:
            self.skip = eligible[-tail]

    async def _done(self) -> bool:
        try:
            run = await self.runs.get(self.run)
        except NotFound:
            return True  # collected meanwhile: nothing more will come
        if run.status.phase.finished:
            return True
        # Waiting on a pipeline no agent can take: end here; the client says why.
        return await self.runs.why_waiting(run) is not None

    async def _rest(self) -> AsyncIterator[str]:
        seen: dict[int, int] = {}
        for record in await self.logs.read(self.run, **self.query.filters):
            seen[record.attempt] = seen.get(record.attempt, 0) + 1
            if seen[record.attempt] > self.consumed.get(record.attempt, 0):
                yield self.consume(record)

    async def lines(self) -> AsyncIterator[bytes]:
        """The formatted lines, as bytes, until the run is finished and its lines are sent."""
        if self.query.tail_lines is not None:
            self._skip_to_tail(await self.logs.read(self.run, **self.query.filters))
        if await self._done():
            async for text in self._rest():
                if text:
                    yield text.encode()
            return
        queue: asyncio.Queue[LogRecord] = asyncio.Queue(maxsize=1000)

        async def pump() -> None:
            async for record in self.logs.follow(self.run, **self.query.filters):
                await queue.put(record)

        pumping = asyncio.create_task(pump())
        try:
            loop = asyncio.get_running_loop()
            next_check = loop.time()
            while True:
                with contextlib.suppress(TimeoutError):
                    record = await asyncio.wait_for(queue.get(), FINISH_POLL_SECONDS)
                    text = self.consume(record)
                    if text:
                        yield text.encode()
                    if loop.time() < next_check:
                        continue
                if pumping.done():
                    pumping.result()  # the store failed: let the error end the stream
                next_check = loop.time() + FINISH_POLL_SECONDS
                if await self._done():
                    break
        finally:
            pumping.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pumping
        while not queue.empty():
            text = self.consume(queue.get_nowait())
            if text:
                yield text.encode()
        async for text in self._rest():
            if text:
                yield text.encode()


def build_run_router(
    objects: ObjectService,
    runs: RunService,
    logs: LogStore,
    reports: RunReportService,
    max_body_bytes: int,
    run_index: RunIndex | None = None,
) -> APIRouter:
    """The /api/v1 run routes; include it before the generic object routes. Lists come from
    `run_index` when given, else from a read of every run."""
    router = APIRouter(prefix="/api/v1", tags=["runs"])

    async def start_run(request: Request, pipeline: str) -> JSONResponse:
        parameters = parse_run_request(await read_capped(request, max_body_bytes))
        created = await runs.create_run(
            pipeline, trigger=RunTrigger(type="manual"), parameters=parameters
        )
        if created.run is None:  # only a concurrency policy other than Allow skips
            raise Invalid([FieldError("pipeline", created.skipped or "no run was created")])
        return JSONResponse(created.run.to_dict(), status_code=201)

    @router.post("/pipelines/{name}/runs", status_code=201)
    async def run_pipeline(name: str, request: Request) -> JSONResponse:
        """Start a run of the Pipeline object `name` (manual trigger) → 201 the Pending run."""
        return await start_run(request, name)

    @router.post("/workflows/{workflow}/pipelines/{pipeline}/runs", status_code=201)
    async def run_workflow_pipeline(workflow: str, pipeline: str, request: Request) -> JSONResponse:
        """Start a run of `pipeline` of `workflow` (manual trigger) → 201 the Pending run."""
        return await start_run(request, pipeline_object_name(workflow, pipeline))

    @router.get("/pipelineruns")
    async def list_runs(
        labelSelector: Annotated[str | None, Query()] = None,
        phase: Annotated[str | None, Query()] = None,
        watch: Annotated[bool, Query()] = False,
        resourceVersion: Annotated[int | None, Query(ge=0)] = None,
        workflow: Annotated[str | None, Query()] = None,
        pipeline: Annotated[str | None, Query()] = None,
        trigger: Annotated[str | None, Query()] = None,
        branch: Annotated[str | None, Query()] = None,
        commit: Annotated[str | None, Query()] = None,
        limit: Annotated[int | None, Query(ge=1, le=MAX_PAGE_SIZE)] = None,
        continue_: Annotated[str | None, Query(alias="continue")] = None,
    ) -> Response:
        """Runs, newest first, filtered by labels, `phase` (comma-separated), `workflow`,
        `pipeline`, `trigger` kind, `branch` and `commit` (a prefix); `limit` and `continue`
        page through them; `watch=true` streams changes."""
        selector = parse_label_selector(labelSelector)
        if watch:
            if phase:
                raise BadRequest("phase cannot be combined with watch=true: a run changes phase")
            return StreamingResponse(
                watch_stream(objects, PipelineRun, selector, resourceVersion),
                media_type="application/x-ndjson",
            )
        query = RunQuery(
            workflow=workflow or None,
            pipeline=pipeline or None,
            phases=parse_phases(phase),
            trigger=parse_trigger_kind(trigger),
            branch=branch or None,
            commit=commit or None,
            labels=selector.matches if selector is not None else None,
            limit=limit,
            after=decode_continue(continue_) if continue_ else None,
        )
        page = await _run_page(run_index, objects, query)
        metadata: dict[str, Any] = {"resourceVersion": str(page.revision)}
        if page.continue_token:
            metadata["continue"] = page.continue_token
        if page.remaining is not None:
            metadata["remainingItemCount"] = page.remaining
        # The index keeps each run already encoded: the page is joined, not re-serialized.
        head = json.dumps(
            {"apiVersion": API_VERSION, "kind": "PipelineRunList", "metadata": metadata}
        )
        body = head[:-1].encode() + b',"items":[' + b",".join(r.body for r in page.items) + b"]}"
        return Response(body, media_type="application/json")

    @router.get("/runhistory")
    async def run_history(
        perPipeline: Annotated[int, Query(ge=1, le=100)] = 10,
        workflow: Annotated[str | None, Query()] = None,
    ) -> JSONResponse:
        """The newest `perPipeline` runs of each pipeline, in brief (the web UI's run marks)."""
        if run_index is None:
            raise Unavailable("this server keeps no run index: run history is not served")
        latest, revision = await run_index.latest_per_pipeline(perPipeline, workflow or None)
        return JSONResponse(
            {
                "kind": "RunHistory",
                "metadata": {"resourceVersion": str(revision)},
                "pipelines": {name: [run.brief() for run in runs] for name, runs in latest.items()},
            }
        )

    @router.post("/pipelineruns/{name}/cancel", status_code=202)
    async def cancel_run(name: str) -> JSONResponse:
        """Ask for a run to stop → 202; a Pending run is Cancelled at once."""
        before = await runs.get(name)
        run = await runs.request_cancel(name)
        if not before.status.phase.finished and run.status.phase == RunPhase.CANCELLED:
            # No agent held it, so no agent will report its end: record and announce it here.
            await reports.record_cancelled(run)
        return JSONResponse(run.to_dict(), status_code=202)

    @router.get("/pipelineruns/{name}/logs")
    async def run_logs(
        name: str,
        task: Annotated[str | None, Query()] = None,
        step: Annotated[str | None, Query()] = None,
        attempt: Annotated[int | None, Query(ge=1)] = None,
        follow: Annotated[bool, Query()] = False,
        tailLines: Annotated[int | None, Query(ge=0)] = None,
        sinceSeconds: Annotated[int | None, Query(ge=1)] = None,
        timestamps: Annotated[bool, Query()] = False,
    ) -> Response:
        """The run's output as text: `[task/step] line`, or raw lines of one task's step;
        `tailLines`, `sinceSeconds` and `timestamps` as in Kubernetes' pod logs."""
        run = await runs.get(name)
        _check_names(run, task, step)
        query = LogQuery(task, step, attempt, tailLines, sinceSeconds, timestamps)
        follower = LogFollower(runs, logs, name, query)
        if follow:
            return StreamingResponse(
                follower.lines(),
                media_type="text/plain; charset=utf-8",
                headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"},
            )
        return Response(await follower.stored(), media_type="text/plain; charset=utf-8")

    @router.post("/pipelineruns/{name}/rerun", status_code=201)
    async def rerun(name: str) -> JSONResponse:
        """A new run with the parameters and trigger (payload included) of run `name` → 201."""
        return JSONResponse((await runs.rerun(name)).to_dict(), status_code=201)

    @router.delete("/pipelineruns/{name}")
    async def delete_run(name: str) -> JSONResponse:
        """Delete a run no agent is running, with its logs and events; 409 while it runs."""
        deleted = await runs.delete(name)
        await logs.delete(name)
        return JSONResponse(deleted.to_dict())

    @router.get("/pipelineruns/{name}/events")
    async def run_events(name: str) -> JSONResponse:
        """The run's recorded events, oldest first: `{"items": [...]}`."""
        await runs.get(name)
        return JSONResponse({"items": await logs.read_events(name)})

    return router


async def _run_page(index: RunIndex | None, objects: ObjectService, query: RunQuery) -> RunPage:
    """From the run index when the server has one, else from a list of every run."""
    if index is not None:
        return await index.page(query)
    items, revision = await objects.list(PipelineRun)
    runs = sorted(
        (RunEntry.of(run) for run in items if isinstance(run, PipelineRun)),
        key=lambda entry: entry.key,
    )
    if query.after is not None:
        after = query.after
        runs = [run for run in runs if run.key > after]
    return page_of(runs, query, revision)


def _check_names(run: PipelineRun, task: str | None, step: str | None) -> None:
    """404 for a task or step the run does not have (once the run knows its tasks)."""
    if step is not None and task is None:
        raise Invalid([FieldError("step", "give the task of the step too (task=...)")])
    tasks = run.status.tasks
    if task is None or not tasks:
        return
    if task not in tasks:
        known = ", ".join(sorted(tasks))
        raise NotFound(f"run '{run.metadata.name}' has no task '{task}' (tasks: {known})")
    steps = [s.name for s in tasks[task].steps]
    if step is not None and steps and step not in steps:
        raise NotFound(
            f"task '{task}' of run '{run.metadata.name}' has no step '{step}' "
            f"(steps: {', '.join(steps)})"
        )
