"""Small helpers for tests that talk to a real apiserver over HTTP."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx
import yaml

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"

T = TypeVar("T")


def load_example(name: str) -> dict[str, Any]:
    """An example workflow as a dict."""
    loaded = yaml.safe_load((EXAMPLES / name).read_text())
    assert isinstance(loaded, dict)
    return loaded


def eventually(check: Callable[[], T], timeout: float = 15.0, interval: float = 0.1) -> T:
    """Call `check` until it returns a truthy value without raising; fail with the last error."""
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            result = check()
            if result:
                return result
        except AssertionError as exc:
            last = exc
        time.sleep(interval)
    if last is not None:
        raise last
    raise AssertionError(f"condition not met within {timeout}s")


def names(client: httpx.Client, plural: str) -> list[str]:
    """Names of all objects of a kind."""
    response = client.get(f"/api/v1/{plural}")
    response.raise_for_status()
    return sorted(item["metadata"]["name"] for item in response.json()["items"])


def workflow(name: str, pipelines: dict[str, Any], triggers: list | None = None) -> dict:
    """A minimal valid workflow document."""
    return {
        "apiVersion": "xene.dev/v1",
        "kind": "Workflow",
        "metadata": {"name": name},
        "spec": {"triggers": triggers or [], "pipelines": pipelines},
    }


def one_task_pipeline(command: str = "echo hi", **extra: Any) -> dict[str, Any]:
    """A pipeline of one busybox task with one step."""
    return {
        "tasks": {"main": {"image": "busybox:latest", "steps": [{"name": "s", "run": command}]}},
        **extra,
    }
