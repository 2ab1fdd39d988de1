"""The registry of executor kinds: one table says which executor a pipeline's `executor` gets."""

from __future__ import annotations

from pathlib import Path

import pytest

from xene.api.executors import HOST_KINDS, ExecutorName, parse_executor
from xene.engine import Executor
from xene.engine.executors import ExternalExecutor, ProcessExecutor
from xene.engine.executors.registry import (
    ExecutorOptions,
    RunExecutors,
    UnavailableExecutor,
    create_executor,
)

from .fakes import FakeExecutor


def test_executor_names_are_parsed_in_one_place() -> None:
    assert HOST_KINDS == ("docker", "process")
    assert parse_executor("") == ExecutorName("docker")
    assert parse_executor("process") == ExecutorName("process")
    assert parse_executor("external:jenkins") == ExecutorName("external", "jenkins")
    assert str(parse_executor("external:jenkins")) == "external:jenkins"
    for bad in ("kubernetes", "external:"):
        with pytest.raises(ValueError, match="unknown executor"):
            parse_executor(bad)


async def test_create_executor_builds_each_kind(tmp_path: Path) -> None:
    options = ExecutorOptions(workspaces=tmp_path)
    assert isinstance(create_executor("process", options), ProcessExecutor)
    external = create_executor("external:jenkins", options)
    assert isinstance(external, ExternalExecutor)
    assert external.unavailable() == (
        "executor 'external:jenkins' is not available: no build manager for external provider "
        "'jenkins' is configured on this host"
    )
    with pytest.raises(ValueError, match="unknown executor 'bogus'"):
        create_executor("bogus", options)


async def test_an_agent_serves_each_pipeline_with_the_right_executor() -> None:
    docker, process = FakeExecutor(name="docker"), FakeExecutor(name="process")
    executors = RunExecutors("process", {"docker": lambda: docker, "process": lambda: process})
    # The agent's default kind serves docker pipelines (here: a host without Docker).
    assert executors.kind_for("docker") == executors.kind_for("") == "process"
    assert executors.kind_for("process") == "process"
    assert executors.kind_for("external:jenkins") == "external:jenkins"
    assert executors.kind_for("kubernetes") is None
    assert executors.get("process") is process
    external = executors.get("external:jenkins")
    assert isinstance(external, ExternalExecutor) and executors.get("external:jenkins") is external
    await executors.close()


async def test_an_executor_that_cannot_be_built_fails_runs_with_the_reason() -> None:
    def broken() -> Executor:
        raise RuntimeError("Docker is not running")

    executors = RunExecutors("docker", {"docker": broken})
    executor = executors.get("docker")
    assert isinstance(executor, UnavailableExecutor)
    assert executor.unavailable() == (
        "the docker executor is not available on this agent: Docker is not running"
    )
