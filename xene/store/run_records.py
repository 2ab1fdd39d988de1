"""PipelineRuns' numbering and idempotency keys, written in one transaction with the run.

The counter `sequences/runs/{pipeline}`, the new run object, (with an idempotency key)
`dedup/{pipeline}/{key}` and (when the run is dispatched at once) its StartRun command are
written in ONE transaction that compares the counter's mod_revision: run numbers have no gaps
and no duplicates however many triggers fire at once, and a key repeated (a cron tick on two
agents, a webhook delivered twice) finds the run the first request made.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from xene.api.errors import Conflict, XeneError
from xene.api.run import PipelineRun
from xene.store import codec
from xene.store.commands import AgentCommand
from xene.store.keys import KeyLayout
from xene.store.kv import Compare, Delete, Get, KeyValue, KeyValueStore, Put, RangeResult, TxnOp

log = logging.getLogger(__name__)

CREATE_ATTEMPTS = 200


@dataclass(frozen=True)
class NumberedRun:
    """What `create` did: the run it stored, or the name of the run the idempotency key made."""

    run: PipelineRun | None = None
    duplicate_of: str | None = None


# What a run is built from its number by; and the agent and StartRun for the stored run.
RunBuilder = Callable[[int], PipelineRun]
StartCommand = Callable[[PipelineRun], tuple[str, AgentCommand]]


class RunRecords:
    """Creates numbered runs and deletes them with their idempotency keys."""

    def __init__(self, kv: KeyValueStore, keys: KeyLayout, clock: Callable[[], datetime]) -> None:
        self._kv = kv
        self._keys = keys
        self._clock = clock

    async def duplicate_of(self, pipeline: str, dedup_key: str) -> str | None:
        """The name of the run that `dedup_key` of `pipeline` made, if any."""
        kv = await self._kv.get(self._keys.dedup(pipeline, dedup_key))
        return kv.value.decode() if kv is not None else None

    async def create(
        self,
        pipeline: str,
        build: RunBuilder,
        *,
        dedup_key: str | None = None,
        start: StartCommand | None = None,
    ) -> NumberedRun:
        """Store `build(n)` with the next number n of `pipeline`, its idempotency key and
        (with `start`) its StartRun command, all at once; or find the key's run."""
        counter = self._keys.run_sequence(pipeline)
        dedup = self._keys.dedup(pipeline, dedup_key) if dedup_key is not None else None
        counter_kv = await self._kv.get(counter)
        skip = 0
        for _ in range(CREATE_ATTEMPTS):
            number = _counted(counter, counter_kv) + 1 + skip
            run = codec.prepared_for_create(build(number), self._clock)
            run_key = self._keys.object_key(PipelineRun, run.metadata.name)
            compares = [_unchanged(counter, counter_kv), Compare.missing(run_key)]
            success: list[TxnOp] = [Put(counter, str(number)), Put(run_key, codec.encode(run))]
            failure: list[TxnOp] = [Get(counter), Get(run_key)]
            if start is not None:
                agent, command = start(run)
                success.append(Put(self._keys.command(agent, command.id), command.encode()))
            if dedup is not None:
                compares.append(Compare.missing(dedup))
                success.append(Put(dedup, run.metadata.name))
                failure.append(Get(dedup))
            result = await self._kv.transaction(compares, success, failure)
            if result.succeeded:
                run.metadata.resourceVersion = str(result.revision)
                return NumberedRun(run)
            counter_now, run_now = _found(result.responses[0]), _found(result.responses[1])
            if dedup is not None and (taken := _found(result.responses[2])) is not None:
                return NumberedRun(duplicate_of=taken.value.decode())
            if counter_now == counter_kv and run_now is not None:
                # A run object already holds this number (the counter was reset): step over it.
                skip += 1
            else:
                counter_kv, skip = counter_now, 0
        raise Conflict(f"runs of pipeline '{pipeline}' are created too fast: gave up numbering one")

    async def delete(self, run: PipelineRun, pipeline: str, dedup_key: str | None) -> bool:
        """Delete a run and its idempotency key if the run is still at its resourceVersion;
        False when it changed or is gone meanwhile."""
        run_key = self._keys.object_key(PipelineRun, run.metadata.name)
        ops: list[TxnOp] = [Delete(run_key)]
        if dedup_key is not None:
            ops.append(Delete(self._keys.dedup(pipeline, dedup_key)))
        version = int(run.metadata.resourceVersion or 0)
        result = await self._kv.transaction([Compare.mod_revision_is(run_key, version)], ops)
        return result.succeeded


def _counted(counter: str, kv: KeyValue | None) -> int:
    if kv is None:
        return 0
    try:
        return int(kv.value)
    except ValueError:
        raise XeneError(f"run counter {counter} holds {kv.value!r}, not a number") from None


def _unchanged(counter: str, kv: KeyValue | None) -> Compare:
    return (
        Compare.missing(counter)
        if kv is None
        else Compare.mod_revision_is(counter, kv.mod_revision)
    )


def _found(response: object) -> KeyValue | None:
    assert isinstance(response, RangeResult)
    return response.kvs[0] if response.kvs else None
