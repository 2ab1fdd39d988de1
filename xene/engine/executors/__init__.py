"""Executors run a task's steps somewhere: host processes (`process`) or Docker containers
(`docker`, imported from `xene.agent.executors.docker` so the Docker SDK loads only when used)."""

from xene.agent.executors.process import ProcessExecutor

__all__ = ["ProcessExecutor"]
