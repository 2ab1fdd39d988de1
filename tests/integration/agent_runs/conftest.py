"""The in-process apiserver run side of tests/integration/runs, for tests of the real agent."""

from tests.integration.runs.conftest import run_cluster, runs

__all__ = ["run_cluster", "runs"]
