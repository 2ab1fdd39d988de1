"""ObjectStore pieces for callers' own transactions: `creation` and `mutate(also=...)`."""

from __future__ import annotations

import pytest

from xene.api.errors import AlreadyExists
from xene.api.meta import ObjectMeta
from xene.api.run import PipelineRun, PipelineRunSpec, RunPhase
from xene.store.etcd import Put
from xene.store.objects import ObjectStore


def a_run(name: str = "wf.p.1") -> PipelineRun:
    return PipelineRun(
        metadata=ObjectMeta(name=name), spec=PipelineRunSpec(workflow="wf", pipeline="p", number=1)
    )


async def test_creation_commits_with_other_keys_and_reads_back(etcd_store: ObjectStore) -> None:
    stored, absent, put = etcd_store.creation(a_run())
    marker = etcd_store.raw_key("markers/one")
    result = await etcd_store.client.transaction([absent], [put, Put(marker, "x")])
    assert result.succeeded
    read = await etcd_store.get(PipelineRun, "wf.p.1")
    assert read.metadata.uid == stored.metadata.uid and read.metadata.generation == 1
    assert read.metadata.resourceVersion == str(result.revision)
    assert await etcd_store.get_raw("markers/one") == b"x"
    with pytest.raises(AlreadyExists):
        await etcd_store.create(a_run())


async def test_mutate_writes_extra_keys_only_with_a_change(etcd_store: ObjectStore) -> None:
    await etcd_store.create(a_run())

    def finish(run: PipelineRun) -> PipelineRun:
        run.status.phase = RunPhase.SUCCEEDED
        return run

    def note(run: PipelineRun) -> list[Put]:
        return [Put(etcd_store.raw_key("markers/done"), run.status.phase.value)]

    await etcd_store.mutate(PipelineRun, "wf.p.1", finish, also=note)
    assert await etcd_store.get_raw("markers/done") == b"Succeeded"
    await etcd_store.delete_raw("markers/done")
    await etcd_store.mutate(PipelineRun, "wf.p.1", lambda run: None, also=note)
    assert await etcd_store.get_raw("markers/done") is None
