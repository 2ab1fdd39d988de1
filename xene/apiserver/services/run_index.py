"""An index of every PipelineRun, fed by the process's run informer, for fast filtered pages.

The run list (`GET /api/v1/pipelineruns`) and the web UI's overview ask for the newest runs
matching a few filters, one page at a time, among thousands of stored runs. Decoding every run
from etcd for each request costs far more than the page is worth, so every replica keeps its
runs in the order lists want them (newest first), each as a small entry with its served JSON,
from the shared informer's changes, and answers from memory.

Before each query the index asks etcd how many runs exist (a count: etcd reads no values). A
count that disagrees with the index means a run was created or deleted and the watch has not
brought it yet: the query waits a moment for it, then reads what changed from etcd. So a run
made just before the request is always in the answer; a change of a run's state shows as soon
as the watch delivers it (milliseconds). Asking etcd for every change since a revision would
make each query read every stored run inside etcd, ten times the cost of the count.
The runs are kept sorted as they come and go: a page is a binary search and a short scan.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import bisect
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from xene.api.derivation import PIPELINE_LABEL
from xene.api.errors import BadRequest, NotFound, Unavailable
from xene.api.run import PipelineRun, RunPhase
from xene.store.informer import Change, Informer
from xene.store.objects import ObjectStore

log = logging.getLogger(__name__)

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000
SYNC_TIMEOUT_SECONDS = 10.0
# How long a query waits for the watch to bring a run it knows exists before reading it.
WATCH_GRACE_SECONDS = 0.1

# Newest first: creation time descending, then run number descending, then name.
SortKey = tuple[float, int, str]


def sort_key(run: PipelineRun) -> SortKey:
    """Where a run stands in the newest-first order."""
    created = run.metadata.creationTimestamp
    return (-(created.timestamp() if created else 0.0), -run.spec.number, run.metadata.name)


def branch_of(run: PipelineRun) -> str | None:
    """The branch a run was made for (a webhook push), if known."""
    return run.spec.env.get("XENE_BRANCH") or run.spec.parameters.get("XENE_BRANCH")


def commit_of(run: PipelineRun) -> str | None:
    """The commit a run was made for, if known."""
    return run.spec.commit or run.spec.env.get("XENE_COMMIT")


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


@dataclass(frozen=True, slots=True)
class RunEntry:
    """What the index keeps of one run: the fields filters and marks read, and the run as
    served, already encoded (a decoded PipelineRun costs ten times its JSON in memory)."""

    name: str
    version: int
    key: SortKey
    workflow: str
    pipeline: str  # the Pipeline object name, `workflow.pipeline`
    pipeline_entry: str  # the pipeline's name within its workflow
    number: int
    phase: RunPhase
    trigger: str
    branch: str | None
    commit: str | None
    labels: Mapping[str, str]
    created: str | None
    started: str | None
    finished: str | None
    body: bytes

    @classmethod
    def of(cls, run: PipelineRun) -> RunEntry:
        """The entry for a run as read from the store."""
        labels = dict(run.metadata.labels)
        return cls(
            name=run.metadata.name,
            version=int(run.metadata.resourceVersion or 0),
            key=sort_key(run),
            workflow=run.spec.workflow,
            pipeline=labels.get(PIPELINE_LABEL) or f"{run.spec.workflow}.{run.spec.pipeline}",
            pipeline_entry=run.spec.pipeline,
            number=run.spec.number,
            phase=run.status.phase,
            trigger=run.spec.trigger.type,
            branch=branch_of(run),
            commit=commit_of(run),
            labels=labels,
            created=_iso(run.metadata.creationTimestamp),
            started=_iso(run.status.startedAt),
            finished=_iso(run.status.finishedAt),
            # The served form (to_dict), encoded by pydantic's own serializer: several times
            # faster than json.dumps of the dict when thousands of runs are indexed at once.
            body=run.model_dump_json(exclude_none=True).encode(),
        )

    def brief(self) -> dict[str, Any]:
        """The few fields a run's mark shows: name, number, phase and when it started (or was
        made, before it started). A few hundred marks go out at once: keep them small."""
        brief: dict[str, Any] = {"name": self.name, "number": self.number, "phase": self.phase}
        when = self.started or self.created
        if when is not None:
            brief["startedAt" if self.started else "creationTimestamp"] = when
        return brief


@dataclass(frozen=True, slots=True)
class RunQuery:
    """Which runs a page holds; every filter left None matches all."""

    workflow: str | None = None
    # A Pipeline object name (`workflow.pipeline`) or a pipeline's name within its workflow.
    pipeline: str | None = None
    phases: frozenset[RunPhase] | None = None
    trigger: str | None = None
    branch: str | None = None
    commit: str | None = None
    labels: Callable[[Mapping[str, str]], bool] | None = None
    limit: int | None = None
    after: SortKey | None = None

    @property
    def filtered(self) -> bool:
        """True when any filter is set (not only the page's size and start)."""
        return any(
            value is not None
            for value in (
                self.workflow,
                self.pipeline,
                self.phases,
                self.trigger,
                self.branch,
                self.commit,
                self.labels,
            )
        )

    def matches(self, run: RunEntry) -> bool:
        """True when `run` passes every filter."""
        if self.workflow is not None and run.workflow != self.workflow:
            return False
        if self.pipeline is not None and self.pipeline not in (
            run.pipeline,
            run.pipeline_entry if "." not in self.pipeline else None,
        ):
            return False
        if self.phases is not None and run.phase not in self.phases:
            return False
        if self.trigger is not None and run.trigger != self.trigger:
            return False
        if self.branch is not None and run.branch != self.branch:
            return False
        if self.commit is not None and not (run.commit or "").startswith(self.commit):
            return False
        return self.labels is None or self.labels(run.labels)


@dataclass(frozen=True, slots=True)
class RunPage:
    """One page of runs, newest first, with what the next page needs."""

    items: list[RunEntry]
    revision: int
    continue_token: str | None
    remaining: int | None


def encode_continue(key: SortKey) -> str:
    """The opaque `continue` token that resumes a listing after `key`."""
    return base64.urlsafe_b64encode(json.dumps(list(key)).encode()).decode().rstrip("=")


def decode_continue(token: str) -> SortKey:
    """The position a `continue` token names; BadRequest when it is not one of ours."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        created, number, name = json.loads(raw)
        if not isinstance(name, str) or not isinstance(number, int):
            raise TypeError("wrong types")
        return (float(created), number, name)
    except (ValueError, TypeError, binascii.Error):
        raise BadRequest(f"continue token '{token}' is not one this server gave out") from None


def page_of(runs: Sequence[RunEntry], query: RunQuery, revision: int) -> RunPage:
    """The page `query` asks for out of `runs` (newest first, already past `query.after`).

    As in Kubernetes, `remaining` is counted only for an unfiltered list (it is arithmetic
    there); a filtered one stops at the first match past the page and leaves it None.
    """
    limit = query.limit
    if query.filtered:
        items: list[RunEntry] = []
        more = False
        for run in runs:
            if query.matches(run):
                if limit is not None and len(items) == limit:
                    more = True
                    break
                items.append(run)
        token = encode_continue(items[-1].key) if more and items else None
        return RunPage(items, revision, token, None)
    items = list(runs[:limit]) if limit is not None else list(runs)
    remaining = len(runs) - len(items)
    token = encode_continue(items[-1].key) if remaining and items else None
    return RunPage(items, revision, token, remaining if token else None)


class RunIndex:
    """Every run the process's run informer holds, newest first; `run()` keeps it in step."""

    def __init__(self, runs: Informer[PipelineRun], store: ObjectStore) -> None:
        self.informer = runs
        self.store = store
        self._runs: dict[str, RunEntry] = {}
        # Kept sorted as entries come and go (a run's key never changes): no re-sorting.
        self._ordered: list[RunEntry] = []
        self._keys: list[SortKey] = []
        self._listening = asyncio.Event()
        self._changed = asyncio.Event()  # set (and replaced) whenever a run comes or goes

    def __len__(self) -> int:
        return len(self._runs)

    # -- keeping in step -----------------------------------------------------------------

    async def run(self) -> None:
        """Hear of every run the informer holds and every change of one, until cancelled."""
        with self.informer.listening(self._on_change, replay=True):
            self._listening.set()
            await asyncio.Future()

    def _on_change(self, change: Change[PipelineRun]) -> None:
        if change.new is None:
            self._forget(change.key)
        else:
            self.observe(change.new)

    def observe(self, run: PipelineRun) -> None:
        """Take a run as read from the store, unless the index already holds a newer version."""
        name = run.metadata.name
        version = int(run.metadata.resourceVersion or 0)
        current = self._runs.get(name)
        if current is not None and current.version >= version:
            return
        entry = RunEntry.of(run)
        self._runs[name] = entry
        if current is not None and current.key == entry.key:
            self._ordered[bisect.bisect_left(self._keys, entry.key)] = entry
            return
        if current is not None:
            self._unlist(current)
        at = bisect.bisect_left(self._keys, entry.key)
        self._keys.insert(at, entry.key)
        self._ordered.insert(at, entry)
        self._announce()

    def _announce(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def _unlist(self, entry: RunEntry) -> None:
        at = bisect.bisect_left(self._keys, entry.key)
        if at < len(self._keys) and self._keys[at] == entry.key:
            del self._keys[at]
            del self._ordered[at]

    def _forget(self, name: str) -> None:
        current = self._runs.pop(name, None)
        if current is not None:
            self._unlist(current)
            self._announce()

    async def catch_up(self) -> int:
        """Make sure every run that exists now is in the index, and no deleted one; the etcd
        revision that was checked against.

        One count of the stored runs (etcd counts without reading values) shows whether a
        creation or deletion has not come through the watch yet; only then does the index wait
        a moment for the watch, and failing that, read the runs' keys and the missing runs.
        """
        try:
            async with asyncio.timeout(SYNC_TIMEOUT_SECONDS):
                await self._listening.wait()
                await self.informer.wait_synced()
        except TimeoutError:
            raise Unavailable("the run index has not listed the runs yet; try again") from None
        count, revision = await self.store.count(PipelineRun)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + WATCH_GRACE_SECONDS
        while len(self._runs) != count and loop.time() < deadline:
            try:
                await asyncio.wait_for(self._changed.wait(), deadline - loop.time())
            except TimeoutError:
                break
        if len(self._runs) != count:
            revision = await self._read_differences()
        return revision

    async def _read_differences(self) -> int:
        """Bring the informer (and so the index) level with the runs' keys in etcd."""
        stored, revision = await self.store.versions(PipelineRun)
        for name in self._runs.keys() - stored.keys():
            self.informer.observe(name, None, revision)
        for name, version in stored.items():
            current = self._runs.get(name)
            if current is not None and current.version >= version:
                continue
            try:
                run = await self.store.get(PipelineRun, name)
            except NotFound:
                continue  # deleted since the keys were read
            self.informer.observe(name, run, int(run.metadata.resourceVersion or version))
        return revision

    # -- reading -----------------------------------------------------------------------------

    def ordered(self) -> list[RunEntry]:
        """Every run, newest first (the index's own list: do not change it)."""
        return self._ordered

    async def page(self, query: RunQuery) -> RunPage:
        """The runs `query` asks for, with every run made or deleted before the request."""
        revision = await self.catch_up()
        start = 0 if query.after is None else bisect.bisect_right(self._keys, query.after)
        return page_of(self._ordered[start:], query, revision)

    async def latest_per_pipeline(
        self, per_pipeline: int, workflow: str | None = None
    ) -> tuple[dict[str, list[RunEntry]], int]:
        """The newest `per_pipeline` runs of every pipeline (by Pipeline object name)."""
        revision = await self.catch_up()
        latest: dict[str, list[RunEntry]] = {}
        for run in self._ordered:
            if workflow is not None and run.workflow != workflow:
                continue
            runs = latest.setdefault(run.pipeline, [])
            if len(runs) < per_pipeline:
                runs.append(run)
        return latest, revision
