"""Run list queries: filters, newest-first order, pages and continue tokens (no etcd)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from xene.api.errors import BadRequest
from xene.api.meta import ObjectMeta
from xene.api.run import PipelineRun, PipelineRunSpec, PipelineRunStatus, RunPhase, RunTrigger
from xene.apiserver.services.run_index import (
    RunEntry,
    RunIndex,
    RunQuery,
    decode_continue,
    encode_continue,
    page_of,
    sort_key,
)

START = datetime(2026, 1, 1, tzinfo=UTC)


def run(
    pipeline: str,
    number: int,
    *,
    phase: RunPhase = RunPhase.SUCCEEDED,
    trigger: str = "manual",
    env: dict[str, str] | None = None,
    commit: str | None = None,
) -> PipelineRun:
    workflow, entry = pipeline.split(".")
    return PipelineRun(
        metadata=ObjectMeta(
            name=f"{pipeline}.{number}",
            labels={"xene.dev/workflow": workflow, "xene.dev/pipeline": pipeline},
            creationTimestamp=START + timedelta(minutes=number),
        ),
        spec=PipelineRunSpec(
            workflow=workflow,
            pipeline=entry,
            number=number,
            trigger=RunTrigger(type=trigger),  # type: ignore[arg-type]
            env=env or {},
            commit=commit,
        ),
        status=PipelineRunStatus(phase=phase),
    )


RUNS = [
    RunEntry.of(r)
    for r in sorted(
        [
            run("web.build", 1, commit="abc123"),
            run(
                "web.build",
                2,
                phase=RunPhase.FAILED,
                trigger="webhook",
                env={"XENE_BRANCH": "main"},
            ),
            run("web.deploy", 3, phase=RunPhase.RUNNING, trigger="cron"),
            run("api.build", 4, env={"XENE_BRANCH": "dev", "XENE_COMMIT": "ffee00"}),
            run("api.build", 5, phase=RunPhase.CANCELLED),
        ],
        key=sort_key,
    )
]


def names(query: RunQuery) -> list[str]:
    return [r.name for r in page_of(RUNS, query, 7).items]


def test_newest_first_without_filters() -> None:
    assert names(RunQuery()) == [
        "api.build.5",
        "api.build.4",
        "web.deploy.3",
        "web.build.2",
        "web.build.1",
    ]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (RunQuery(workflow="web"), ["web.deploy.3", "web.build.2", "web.build.1"]),
        (RunQuery(pipeline="web.build"), ["web.build.2", "web.build.1"]),
        (RunQuery(pipeline="build"), ["api.build.5", "api.build.4", "web.build.2", "web.build.1"]),
        (
            RunQuery(phases=frozenset({RunPhase.FAILED, RunPhase.CANCELLED})),
            ["api.build.5", "web.build.2"],
        ),
        (RunQuery(trigger="cron"), ["web.deploy.3"]),
        (RunQuery(branch="main"), ["web.build.2"]),
        (RunQuery(commit="abc"), ["web.build.1"]),
        (RunQuery(commit="ffee"), ["api.build.4"]),
        (RunQuery(workflow="web", trigger="manual"), ["web.build.1"]),
        (
            RunQuery(labels=lambda labels: labels.get("xene.dev/workflow") == "api"),
            ["api.build.5", "api.build.4"],
        ),
        (RunQuery(workflow="nope"), []),
    ],
)
def test_filters(query: RunQuery, expected: list[str]) -> None:
    assert names(query) == expected


def test_pages_follow_on_from_their_continue_token() -> None:
    first = page_of(RUNS, RunQuery(limit=2), 7)
    assert [r.name for r in first.items] == ["api.build.5", "api.build.4"]
    assert first.remaining == 3 and first.continue_token is not None
    after = decode_continue(first.continue_token)
    rest = [r for r in RUNS if r.key > after]
    second = page_of(rest, RunQuery(limit=2), 7)
    assert [r.name for r in second.items] == ["web.deploy.3", "web.build.2"]
    third = page_of(
        [r for r in rest if r.key > decode_continue(second.continue_token or "")],
        RunQuery(limit=2),
        7,
    )
    assert [r.name for r in third.items] == ["web.build.1"]
    assert third.continue_token is None and third.remaining is None  # the last page


def test_continue_tokens_round_trip_and_foreign_ones_are_refused() -> None:
    key = RUNS[0].key
    assert decode_continue(encode_continue(key)) == key
    for bad in ("garbage", "W10", encode_continue((1.0, 2, "x"))[:-3] + "!!!"):
        with pytest.raises(BadRequest, match="continue token"):
            decode_continue(bad)


def test_the_index_keeps_runs_in_order_as_they_come_change_and_go() -> None:
    index = RunIndex(runs=None, store=None)  # type: ignore[arg-type]  # observe/forget need none
    originals = [run("web.build", n) for n in (3, 1, 5, 2, 4)]
    for number, original in enumerate(originals, 1):
        original.metadata.resourceVersion = str(number)
        index.observe(original)
    assert [r.number for r in index.ordered()] == [5, 4, 3, 2, 1]

    changed = originals[0].model_copy(deep=True)
    changed.status.phase = RunPhase.FAILED
    changed.metadata.resourceVersion = "10"
    index.observe(changed)
    stale = originals[0].model_copy(deep=True)
    stale.metadata.resourceVersion = "9"
    index.observe(stale)  # an older version than the one held: ignored
    assert [(r.number, r.phase) for r in index.ordered()][2] == (3, RunPhase.FAILED)

    index._forget("web.build.5")
    index._forget("web.build.9")  # never held: nothing to do
    assert [r.number for r in index.ordered()] == [4, 3, 2, 1]
    assert len(index) == 4
