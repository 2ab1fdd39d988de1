"""Bounds each pipeline's run history, and ends the runs of pipelines that are gone.

Keeps the newest `history_limit` finished runs of every pipeline; older finished runs are
deleted with their idempotency keys and their logs. Unfinished runs are never deleted; those of
a deleted pipeline are cancelled (their agent is asked to stop them).
"""

from __future__ import annotations

import logging

from xene.api.errors import XeneError
from xene.api.meta import Resource
from xene.api.pipeline import Pipeline
from xene.api.run import PipelineRun
from xene.apiserver.controllers.base import KeySource, WatchSource, own_name
from xene.apiserver.services.logstore import LogStore
from xene.apiserver.services.runs import RUNS_BY_PIPELINE, RunService, index_runs, pipeline_of
from xene.store.informer import Informer
from xene.store.shared_informers import SharedInformers

log = logging.getLogger(__name__)

PIPELINE_DELETED_REASON = "its pipeline was deleted"


def _pipeline_key(obj: Resource) -> list[str]:
    # Only a run that finishes can push its pipeline's history over the limit.
    assert isinstance(obj, PipelineRun)
    return [pipeline_of(obj)] if obj.status.phase.finished else []


class RunHistoryCollector:
    """Reconciles a Pipeline object name: at most `history_limit` finished runs kept."""

    name = "run-gc"
    resync_seconds = 60.0
    workers = 2

    def __init__(
        self,
        informers: SharedInformers,
        runs: RunService,
        logs: LogStore,
    ) -> None:
        self.informers = informers
        self.runs = runs
        self.logs = logs
        self.sources: list[WatchSource | KeySource] = [
            WatchSource(PipelineRun, _pipeline_key),
            WatchSource(Pipeline, own_name),
        ]

    @property
    def run_cache(self) -> Informer[PipelineRun]:
        """The shared cache of runs (made when first read: on the leader only)."""
        return index_runs(self.informers.kind(PipelineRun))

    @property
    def pipelines(self) -> Informer[Pipeline]:
        """The shared cache of pipelines."""
        return self.informers.kind(Pipeline)

    async def reconcile(self, key: str) -> None:
        """Delete the pipeline's finished runs beyond the newest `history_limit`."""
        await self.run_cache.wait_synced()
        await self.pipelines.wait_synced()
        runs = sorted(
            self.run_cache.indexed(RUNS_BY_PIPELINE, key), key=lambda run: run.spec.number
        )
        if not runs:
            return
        if key not in self.pipelines:
            for run in runs:
                if not run.status.phase.finished and not run.status.cancelRequested:
                    await self.runs.request_cancel(run.metadata.name, PIPELINE_DELETED_REASON)
        finished = [run for run in runs if run.status.phase.finished]
        excess = len(finished) - self.runs.history_limit
        for run in finished[: max(excess, 0)]:
            if await self.runs.delete_run(run):
                try:
                    await self.logs.delete(run.metadata.name)
                except (OSError, XeneError) as exc:
                    log.warning("run %s: logs not deleted: %s", run.metadata.name, exc)
                log.info(
                    "run %s deleted (history limit %d)", run.metadata.name, self.runs.history_limit
                )
