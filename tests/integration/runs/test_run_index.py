"""The run index on real etcd: a run written a moment ago is in the next page, a deleted one is
gone, and pages of many runs come back complete and in order."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from tests.integration.runs.conftest import create_pipeline
from xene.api.run import PipelineRun, RunPhase, RunTrigger
from xene.apiserver.services.run_index import RunIndex, RunQuery, decode_continue
from xene.apiserver.services.runs import RunService
from xene.store.informer import Informer
from xene.store.objects import ObjectStore

MANUAL = RunTrigger(type="manual")


@contextlib.asynccontextmanager
async def following(store: ObjectStore, *, watching: bool = True) -> AsyncIterator[RunIndex]:
    """A run informer and the index on it, running; without `watching`, the informer stops
    after its first list, so later changes reach the index only through its own reads."""
    informer = Informer(store.list_watch(PipelineRun))
    index = RunIndex(informer, store)
    async with asyncio.TaskGroup() as group:
        feeding = group.create_task(informer.run())
        indexing = group.create_task(index.run())
        await informer.wait_synced()
        if not watching:
            feeding.cancel()
        try:
            yield index
        finally:
            feeding.cancel()
            indexing.cancel()


async def test_a_run_made_or_deleted_a_moment_ago_is_in_the_next_page(
    etcd_store: ObjectStore, runs: RunService
) -> None:
    await create_pipeline(etcd_store, "p")
    async with following(etcd_store) as index:
        first = await runs.create_run("wf.p", trigger=MANUAL)
        assert first.run is not None
        # No waiting for the watch: the page is read right after the write.
        page = await index.page(RunQuery())
        assert [r.name for r in page.items] == ["wf.p.1"]

        def finish(stored: PipelineRun) -> PipelineRun:
            stored.status.phase = RunPhase.SUCCEEDED
            return stored

        await etcd_store.mutate(PipelineRun, "wf.p.1", finish)
        succeeded = RunQuery(phases=frozenset({RunPhase.SUCCEEDED}))
        for _ in range(200):  # a change of state comes with the watch, within milliseconds
            page = await index.page(succeeded)
            if page.items:
                break
            await asyncio.sleep(0.01)
        assert [r.name for r in page.items] == ["wf.p.1"]

        await etcd_store.delete(PipelineRun, "wf.p.1")
        assert (await index.page(RunQuery())).items == []


async def test_paging_through_many_runs_sees_each_once(
    etcd_store: ObjectStore, runs: RunService
) -> None:
    await create_pipeline(etcd_store, "a")
    await create_pipeline(etcd_store, "b")
    for _ in range(15):
        await runs.create_run("wf.a", trigger=MANUAL)
        await runs.create_run("wf.b", trigger=MANUAL)
    async with following(etcd_store) as index:
        seen: list[str] = []
        query = RunQuery(pipeline="wf.a", limit=4)
        while True:
            page = await index.page(query)
            seen += [r.name for r in page.items]
            if page.continue_token is None:
                break
            assert page.remaining is None  # not counted for a filtered list, as in Kubernetes
            query = RunQuery(pipeline="wf.a", limit=4, after=decode_continue(page.continue_token))
        assert seen == [f"wf.a.{n}" for n in range(15, 0, -1)]
        unfiltered = await index.page(RunQuery(limit=4))
        assert unfiltered.remaining == 26
        latest, _ = await index.latest_per_pipeline(3)
        assert {k: [r.number for r in v] for k, v in latest.items()} == {
            "wf.a": [15, 14, 13],
            "wf.b": [15, 14, 13],
        }


async def test_without_the_watch_a_page_reads_what_came_and_went_from_etcd(
    etcd_store: ObjectStore, runs: RunService
) -> None:
    await create_pipeline(etcd_store, "p")
    await runs.create_run("wf.p", trigger=MANUAL)
    async with following(etcd_store, watching=False) as index:
        await runs.create_run("wf.p", trigger=MANUAL)
        await runs.create_run("wf.p", trigger=MANUAL)
        page = await index.page(RunQuery())
        assert [r.name for r in page.items] == ["wf.p.3", "wf.p.2", "wf.p.1"]

        await etcd_store.delete(PipelineRun, "wf.p.2")
        page = await index.page(RunQuery())
        assert [r.name for r in page.items] == ["wf.p.3", "wf.p.1"]


async def test_store_counts_and_versions(etcd_store: ObjectStore, runs: RunService) -> None:
    await create_pipeline(etcd_store, "p")
    first = (await runs.create_run("wf.p", trigger=MANUAL)).run
    second = (await runs.create_run("wf.p", trigger=MANUAL)).run
    assert first is not None and second is not None
    count, revision = await etcd_store.count(PipelineRun)
    assert count == 2 and revision >= int(second.metadata.resourceVersion or 0)
    versions, _ = await etcd_store.versions(PipelineRun)
    assert versions == {
        "wf.p.1": int(first.metadata.resourceVersion or 0),
        "wf.p.2": int(second.metadata.resourceVersion or 0),
    }
