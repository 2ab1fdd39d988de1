"""Runs on the agent: the manager that executes StartRun commands with the engine, the reporter
that turns a run's progress into reports, and the outbox that delivers them exactly once."""

from xene.agent.runs.manager import RunManager
from xene.agent.runs.outbox import Outbox
from xene.agent.runs.reporter import RunReporter

__all__ = ["Outbox", "RunManager", "RunReporter"]
