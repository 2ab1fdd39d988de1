"""Web UI: the overview's server time with 10,000 runs stored, and page times in Chromium.

Figures, each with its ratio to a baseline taken in the same run: the p50/p95 time of every
request the overview makes (and of the filtered and paged run lists) against `/healthz`, once
with the REST app and its run index called in this process on the same etcd (`server_*`: the
server time alone) and once over HTTP to a running apiserver (`http_*`: its controllers share
the event loop); the
overview's time to interactive and a 200-task run page's time to render in headless Chromium
against the UI's agents page with no agent (the same shell, whoami and one short list), once
served by the app alone and once by the apiserver; how long a task's state change written to
etcd takes to reach the DAG in the page; the UI's assets gzipped.

    python -m bench.ui [--pipelines 200] [--runs-per-pipeline 50] [--repeat 100]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gzip
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI

from bench.harness import ApiServer, Cluster, emit, free_port
from xene.api.meta import ObjectMeta
from xene.api.run import (
    PipelineRun,
    PipelineRunSpec,
    PipelineRunStatus,
    RunPhase,
    RunTrigger,
    StepStatus,
    TaskPhase,
    TaskStatus,
)
from xene.api.validation import validate_object
from xene.apiserver.http.app import ApiServices, create_app
from xene.apiserver.http.ui import UI_DIR
from xene.apiserver.services.agent_admin import AgentAdmin
from xene.apiserver.services.health import HealthService
from xene.apiserver.services.logstore import FileLogStore
from xene.apiserver.services.objects import ObjectService
from xene.apiserver.services.run_index import RunIndex
from xene.apiserver.services.run_reports import RunReportService
from xene.apiserver.services.runs import RunService
from xene.apiserver.services.triggers import TriggerService
from xene.apiserver.services.webhooks import WebhookService
from xene.store.objects import ObjectStore
from xene.store.shared_informers import SharedInformers

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PIPELINES_PER_WORKFLOW = 10
BIG_DAG_TASKS = 200


def workflow_document(index: int, tasks: int = 5) -> dict[str, Any]:
    """Workflow `wf-<index>` with ten pipelines of `tasks` chained-and-fanned tasks."""
    task_specs = {
        f"t{n:03d}": {
            "steps": [{"name": "s", "run": "true"}],
            "dependencies": [f"t{(n - 1) // 3:03d}"] if n else [],
        }
        for n in range(tasks)
    }
    return {
        "apiVersion": "xene.dev/v1",
        "kind": "Workflow",
        "metadata": {"name": f"wf-{index:03d}"},
        "spec": {
            "pipelines": {
                f"p{n}": {"executor": "process", "tasks": task_specs}
                for n in range(PIPELINES_PER_WORKFLOW)
            }
        },
    }


def run_object(workflow: str, pipeline: str, number: int, tasks: int, rng: random.Random) -> Any:
    """A finished (or running) run as the server stores one."""
    created = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=number, seconds=rng.random())
    phase = rng.choice([RunPhase.SUCCEEDED] * 6 + [RunPhase.FAILED, RunPhase.CANCELLED])
    kind = rng.choice(["manual", "cron", "webhook"])
    env = {
        "XENE_BRANCH": rng.choice(["main", "dev"]),
        "XENE_COMMIT": f"{rng.getrandbits(160):040x}",
    }
    task_states = {
        f"t{n:03d}": TaskStatus(
            name=f"t{n:03d}",
            phase=TaskPhase.SUCCEEDED,
            attempt=1,
            startedAt=created,
            finishedAt=created + timedelta(seconds=2),
            steps=[StepStatus(name="s", state="Success", exitCode=0)],
        )
        for n in range(tasks)
    }
    return PipelineRun(
        metadata=ObjectMeta(
            name=f"{workflow}.{pipeline}.{number}",
            labels={
                "xene.dev/workflow": workflow,
                "xene.dev/pipeline": f"{workflow}.{pipeline}",
                "xene.dev/run-number": str(number),
            },
        ),
        spec=PipelineRunSpec(
            workflow=workflow,
            pipeline=pipeline,
            number=number,
            trigger=RunTrigger(type=kind),
            env=env if kind == "webhook" else {},
        ),
        status=PipelineRunStatus(
            phase=phase,
            startedAt=created,
            finishedAt=created + timedelta(seconds=30),
            tasks=task_states,
        ),
    )


async def seed(endpoint: str, pipelines: int, per_pipeline: int) -> None:
    """Store the workflows and `pipelines * per_pipeline` runs straight into etcd, 200 writes
    at a time, before the apiserver starts: it meets them as it would after a restart."""
    rng = random.Random(7)
    store = await ObjectStore.connect(endpoint)
    try:
        workflows = (pipelines + PIPELINES_PER_WORKFLOW - 1) // PIPELINES_PER_WORKFLOW
        for index in range(workflows):
            await store.create(validate_object(workflow_document(index)))
        runs = [
            run_object(
                f"wf-{p // PIPELINES_PER_WORKFLOW:03d}", f"p{p % PIPELINES_PER_WORKFLOW}", n, 5, rng
            )
            for p in range(pipelines)
            for n in range(1, per_pipeline + 1)
        ]
        for start in range(0, len(runs), 200):
            await asyncio.gather(*(store.create(run) for run in runs[start : start + 200]))
    finally:
        await store.close()


def settle(server: ApiServer, timeout: float = 120.0) -> None:
    """Wait until the apiserver has digested the seeded runs: its CPU time grows by less than
    a tenth of a second over two seconds (its watches and controllers are idle)."""
    deadline = time.monotonic() + timeout
    before = server.cpu_seconds
    while time.monotonic() < deadline:
        time.sleep(2.0)
        now = server.cpu_seconds
        if now - before < 0.1:
            return
        before = now
    print("the apiserver did not settle; measuring anyway", file=sys.stderr)


def percentiles(samples: list[float]) -> tuple[float, float]:
    """p50 and p95 of `samples`."""
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]


OVERVIEW = ["whoami", "pipelines", "agents", "runhistory", "runs_page"]


def overview_requests(token: str) -> dict[str, str]:
    """Every request the overview makes (the workflow page's list of workflows too), and the
    run list's filters and second page."""
    return {
        "whoami": "/api/v1/whoami",
        "workflows": "/api/v1/workflows",
        "pipelines": "/api/v1/pipelines",
        "agents": "/api/v1/agents",
        "runhistory": "/api/v1/runhistory?perPipeline=10",
        "runs_page": "/api/v1/pipelineruns?limit=25",
        "runs_page_2": f"/api/v1/pipelineruns?limit=25&continue={token}",
        "runs_by_workflow": "/api/v1/pipelineruns?limit=25&workflow=wf-007",
        "runs_by_pipeline": "/api/v1/pipelineruns?limit=25&pipeline=wf-007.p3",
        "runs_failed": "/api/v1/pipelineruns?limit=25&phase=Failed",
        "runs_webhook_main": "/api/v1/pipelineruns?limit=25&trigger=webhook&branch=main",
        "runs_by_commit": "/api/v1/pipelineruns?limit=25&commit=ab",
    }


async def time_requests(client: httpx.AsyncClient, path: str, repeat: int) -> list[float]:
    """Seconds each of `repeat` GETs of `path` took (after one warm-up)."""
    (await client.get(path)).raise_for_status()
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        (await client.get(path)).raise_for_status()
        samples.append(time.perf_counter() - started)
    return samples


async def until_indexed(client: httpx.AsyncClient) -> dict[str, Any]:
    """The first page of runs, once the server's run index has listed them (503 until then)."""
    async with asyncio.timeout(300):
        while True:
            response = await client.get("/api/v1/pipelineruns?limit=25")
            if response.status_code != 503:
                response.raise_for_status()
                return dict(response.json())
            await asyncio.sleep(0.5)


async def request_figures(client: httpx.AsyncClient, prefix: str, repeat: int) -> dict[str, Any]:
    """p50/p95 of every overview request through `client`, with ratios to /healthz's p50."""
    first = await until_indexed(client)
    base50, base95 = percentiles(await time_requests(client, "/healthz", repeat))
    figures: dict[str, Any] = {
        f"{prefix}_baseline_healthz_p50_ms": base50 * 1000,
        f"{prefix}_baseline_healthz_p95_ms": base95 * 1000,
    }
    for name, path in overview_requests(first["metadata"].get("continue", "")).items():
        p50, p95 = percentiles(await time_requests(client, path, repeat))
        print(f"{prefix} {name}: p50 {p50 * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms", file=sys.stderr)
        figures[f"{prefix}_{name}_p50_ms"] = p50 * 1000
        figures[f"{prefix}_{name}_p95_ms"] = p95 * 1000
        figures[f"{prefix}_{name}_p95_ratio"] = p95 / base50
    figures[f"{prefix}_overview_p95_sum_ms"] = sum(
        figures[f"{prefix}_{name}_p95_ms"] for name in OVERVIEW
    )
    return figures


@contextlib.asynccontextmanager
async def app_alone(endpoint: str) -> AsyncIterator[FastAPI]:
    """The REST app on `endpoint`'s etcd with its services and run index (and its informer),
    built as the apiserver builds them, but none of the apiserver's controllers or agents."""
    store = await ObjectStore.connect(endpoint)
    informers = SharedInformers(store)
    index = RunIndex(informers.kind(PipelineRun), store)
    runs = RunService(store)
    logs = FileLogStore(Path(tempfile.mkdtemp(prefix="xene-bench-logs-")))
    services = ApiServices(
        objects=ObjectService(store),
        health=HealthService(store),
        runs=runs,
        logs=logs,
        reports=RunReportService(store, runs, logs),
        webhooks=WebhookService(runs),
        triggers=TriggerService(store),
        agents=AgentAdmin(store),
        run_index=index,
    )
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(informers.run()), group.create_task(index.run())]
            try:
                yield create_app(services)
            finally:
                for task in tasks:
                    task.cancel()
    finally:
        await store.close()


async def in_process_figures(endpoint: str, repeat: int) -> dict[str, Any]:
    """The REST app with its run index on the same etcd, called in this process: the server
    time of the UI's requests alone, without the network or the apiserver's controllers."""
    async with app_alone(endpoint) as app:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            return await request_figures(client, "server", repeat)


async def http_figures(url: str, repeat: int) -> dict[str, Any]:
    """The same requests over HTTP to the running apiserver, controllers and all."""
    async with httpx.AsyncClient(base_url=url, timeout=60.0) as client:
        return await request_figures(client, "http", repeat)


def apply_big_dag(url: str) -> None:
    """A workflow `wf-999` with one 200-task pipeline `big`."""
    document = workflow_document(999, BIG_DAG_TASKS)
    document["spec"]["pipelines"] = {"big": document["spec"]["pipelines"]["p0"]}
    httpx.post(f"{url}/api/v1/apply", json=document, timeout=30.0).raise_for_status()


async def seed_big_dag(endpoint: str) -> str:
    """One Running run of the 200-task pipeline; its name."""
    run = run_object("wf-999", "big", 1, BIG_DAG_TASKS, random.Random(1))
    run.status.phase = RunPhase.RUNNING
    run.status.finishedAt = None
    store = await ObjectStore.connect(endpoint)
    try:
        await store.create(run)
    finally:
        await store.close()
    return str(run.metadata.name)


async def flip_task(endpoint: str, run: str, task: str) -> float:
    """Move one task between Running and Succeeded in etcd; the wall-clock time (epoch s) the
    write returned."""
    store = await ObjectStore.connect(endpoint)
    try:

        def change(stored: PipelineRun) -> PipelineRun:
            status = stored.status.tasks[task]
            running = status.phase == TaskPhase.RUNNING
            status.phase = TaskPhase.SUCCEEDED if running else TaskPhase.RUNNING
            return stored

        await store.mutate(PipelineRun, run, change)
        return time.time()
    finally:
        await store.close()


FETCH_HEALTHZ = """async () => {
  const started = performance.now();
  await fetch('/healthz');
  return (performance.now() - started) / 1000;
}"""

WATCH_NODE = """(task) => {
  window.__changed = null;
  const node = document.querySelector(`[data-task="${task}"]`);
  new MutationObserver(() => {
    if (window.__changed === null) window.__changed = Date.now() / 1000;
  }).observe(node, {attributes: true, attributeFilter: ['data-state']});
}"""


def browser_figures(url: str, endpoint: str, big_run: str, repeat: int) -> dict[str, Any]:
    """Page times in headless Chromium, and the state-change latency to the DOM; a page that
    does not come within 30 s is recorded as such."""
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        return {"browser": "skipped: no chromium"}
    try:
        return _browser_figures(sync_playwright, chromium, url, endpoint, big_run, repeat)
    except PlaywrightError as exc:
        return {"browser_error": str(exc).splitlines()[0]}


def _browser_figures(
    sync_playwright: Callable[[], Any],
    chromium: str,
    url: str,
    endpoint: str,
    big_run: str,
    repeat: int,
) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            page = context.new_page()

            def load(path: str, ready: str) -> float:
                started = time.perf_counter()
                page.goto(url + path)
                try:
                    page.wait_for_selector(ready)
                except Exception:
                    print(
                        f"{path}: no {ready}; the page says {page.text_content('main')!r}",
                        file=sys.stderr,
                    )
                    raise
                return time.perf_counter() - started

            pages = {
                "baseline_agents_page": ("/agents", "main section.panel table"),
                "overview_interactive": ("/", "#recent-runs tr[data-run]"),
                "run_page_200_tasks": (
                    f"/runs/{big_run}",
                    f'[data-task="t{BIG_DAG_TASKS - 1:03d}"]',
                ),
            }
            for name, (path, ready) in pages.items():
                load(path, ready)  # warm-up: the browser's cache is what users have too
                samples = [load(path, ready) for _ in range(max(3, repeat // 20))]
                figures[f"{name}_p50_ms"] = statistics.median(samples) * 1000
                figures[f"{name}_max_ms"] = max(samples) * 1000
            base = figures["baseline_agents_page_p50_ms"]
            for name in ("overview_interactive", "run_page_200_tasks"):
                figures[f"{name}_ratio"] = figures[f"{name}_p50_ms"] / base
            count = page.eval_on_selector_all("[data-task]", "nodes => nodes.length")
            figures["run_page_nodes"] = count
            # The baseline of the state change: one request from the page to the server.
            fetches = [page.evaluate(FETCH_HEALTHZ) for _ in range(20)]
            figures["healthz_fetch_p50_s"] = statistics.median(fetches)

            latencies = []
            for n in range(10):
                task = f"t{n:03d}"
                page.evaluate(WATCH_NODE, task)
                # Playwright's loop runs in this thread: the etcd write gets a thread of its own.
                with ThreadPoolExecutor(1) as pool:
                    flip = flip_task(endpoint, big_run, task)
                    written = pool.submit(asyncio.run, flip).result()
                page.wait_for_function("() => window.__changed !== null", timeout=10_000)
                latencies.append(page.evaluate("window.__changed") - written)
            p50, p95 = percentiles(latencies)
            figures["state_change_to_dom_p50_ms"] = p50 * 1000
            figures["state_change_to_dom_p95_ms"] = p95 * 1000
            figures["state_change_to_dom_p95_ratio"] = p95 / figures["healthz_fetch_p50_s"]
        finally:
            browser.close()
    return figures


async def serve_app(endpoint: str, port: int) -> None:
    """`app_alone` on uvicorn: what `--serve-app` runs in a process of its own for the
    browser to load."""
    async with app_alone(endpoint) as app:
        config = uvicorn.Config(app, port=port, log_level="warning", lifespan="off")
        await uvicorn.Server(config).serve()


class AppAlone:
    """`serve_app` in a child process (not a thread: the browser driver here holds the GIL)."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Base URL of the app."""
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> AppAlone:
        command = [sys.executable, "-m", "bench.ui", "--serve-app", self.endpoint, str(self.port)]
        self.process = subprocess.Popen(command)
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url + "/api/v1/pipelineruns?limit=1", timeout=30).is_success:
                    return self
            time.sleep(0.5)
        self.__exit__()
        raise TimeoutError("the app did not answer")

    def __exit__(self, *exc_info: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pipelines", type=int, default=200)
    parser.add_argument("--runs-per-pipeline", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=100)
    parser.add_argument("--serve-app", nargs=2, metavar=("ETCD", "PORT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_app:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(serve_app(args.serve_app[0], int(args.serve_app[1])))
        return
    cluster = Cluster()
    try:
        endpoint = cluster.start_etcd()
        started = time.perf_counter()
        asyncio.run(seed(endpoint, args.pipelines, args.runs_per_pipeline))
        seeded = time.perf_counter() - started
        figures: dict[str, Any] = {"bench": "ui", "seed_seconds": seeded}
        # First the app alone, while no apiserver competes for the CPU.
        figures.update(asyncio.run(in_process_figures(endpoint, args.repeat)))
        server = cluster.start_apiserver()
        settle(server)
        total = httpx.get(f"{server.url}/api/v1/pipelineruns?limit=1", timeout=60.0).json()
        figures["runs_stored"] = 1 + int(total["metadata"].get("remainingItemCount", 0))
        figures.update(asyncio.run(http_figures(server.url, args.repeat)))
        apply_big_dag(server.url)
        big_run = asyncio.run(seed_big_dag(endpoint))
        server_figures = browser_figures(server.url, endpoint, big_run, args.repeat)
        figures.update({f"http_{key}": value for key, value in server_figures.items()})
        figures["apiserver_rss_mib"] = server.rss / (1024 * 1024)
        # Controllers that lose their etcd lease while busy show up here.
        figures["leadership_losses"] = server.log_path.read_text().count("lost leadership")
        # The app alone once the apiserver is gone, so neither competes with the other.
        server.stop()
        with AppAlone(endpoint) as alone:
            app_figures = browser_figures(alone.url, endpoint, big_run, args.repeat)
        figures.update({f"app_{key}": value for key, value in app_figures.items()})
        figures["assets_gzip_bytes"] = sum(
            len(gzip.compress(path.read_bytes(), 9)) for path in UI_DIR.rglob("*") if path.is_file()
        )
        emit(figures)
    finally:
        cluster.close()


if __name__ == "__main__":
    main()
