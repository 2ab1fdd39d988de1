"""The UI's own modules, run in headless Chromium against the files the server ships: the YAML
writer, the ANSI colour parser and the DAG layout."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest
import uvicorn
import yaml
from fastapi import FastAPI

from tests.fixtures.servers import free_port
from xene.apiserver.http.ui import build_ui_router


@pytest.fixture(scope="module")
def ui_url() -> Iterator[str]:
    """Only the UI's files, served by uvicorn in a thread: these tests need no API."""
    app = FastAPI()
    app.include_router(build_ui_router())
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    try:
        while not server.started:
            thread.join(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def call(page, url: str, module: str, function: str, *args):  # type: ignore[no-untyped-def]
    """`function(*args)` of the UI module `module`, evaluated in the page."""
    page.goto(f"{url}/ui/assets/favicon.svg")
    return page.evaluate(
        "async ([module, name, args]) => (await import(module))[name](...args)",
        [f"/ui/assets/{module}", function, list(args)],
    )


SPECS = [
    {"apiVersion": "xene.dev/v1", "kind": "Workflow", "metadata": {"name": "hello"}},
    {
        "triggers": [{"name": "nightly", "type": "cron", "schedule": "*/5 * * * *"}],
        "pipelines": {
            "build": {
                "agentSelector": {"os": "linux"},
                "tasks": {
                    "test": {
                        "dependencies": ["checkout", "yes", "null", "1.5"],
                        "steps": [
                            {"name": "unit", "run": "echo 'a: b'\nsh ./test.sh # done\n"},
                            {"name": "lint", "run": "ruff check", "allowFailure": True},
                        ],
                        "timeout": "10m",
                        "retries": {"limit": 2, "backoff": "5s"},
                        "env": {"EMPTY": "", "SPACE": " padded ", "COLON": "key: value"},
                    }
                },
            }
        },
    },
]


@pytest.mark.parametrize("document", SPECS)
def test_the_yaml_writer_round_trips(ui_url: str, page, document) -> None:  # type: ignore[no-untyped-def]
    text = call(page, ui_url, "yaml.js", "toYaml", document)
    assert yaml.safe_load(text) == document


def test_ansi_colours_become_classes_and_other_escapes_vanish(ui_url: str, page) -> None:  # type: ignore[no-untyped-def]
    line = "plain \x1b[1;32mbold green\x1b[0m back \x1b[2K\x1b[91mbright red\x1b[39m end"
    pieces = call(page, ui_url, "logview.js", "ansiPieces", line)
    assert pieces == [
        ["plain ", ""],
        ["bold green", "ansi-bold ansi-fg-2"],
        [" back ", ""],
        ["bright red", "ansi-fg-9"],
        [" end", ""],
    ]
    assert call(page, ui_url, "logview.js", "stripAnsi", line) == (
        "plain bold green back bright red end"
    )


def test_the_dag_is_laid_out_by_dependency_level(ui_url: str, page) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{ui_url}/ui/assets/favicon.svg")
    levels = page.evaluate(
        """async () => {
          const { levels } = await import('/ui/assets/dag.js');
          const tasks = new Map(Object.entries({
            a: {dependencies: []}, b: {dependencies: ['a']}, c: {dependencies: ['a']},
            d: {dependencies: ['b', 'c']}, e: {dependencies: ['a', 'd']}, lone: {},
          }));
          return Object.fromEntries(levels(tasks));
        }"""
    )
    assert levels == {"a": 0, "b": 1, "c": 1, "d": 2, "e": 3, "lone": 0}
