"""Executors run a task's steps somewhere: host processes (`process`), Docker containers
(`docker`, imported from `xene.engine.executors.docker` so the Docker SDK loads only when used)
or another CI system (`external:<provider>`). `registry` builds them by kind."""

from xene.engine.executors.external import ExternalExecutor
from xene.engine.executors.process import ProcessExecutor
from xene.engine.executors.registry import (
    ExecutorOptions,
    RunExecutors,
    create_executor,
    default_factories,
)

__all__ = [
    "ExecutorOptions",
    "ExternalExecutor",
    "ProcessExecutor",
    "RunExecutors",
    "create_executor",
    "default_factories",
]
