"""DAG overhead: Xene's engine with the process executor against a bare subprocess runner.

Two shapes of `true` steps, parallelism 4: a chain of 20 tasks, and a fan-out 1 -> 50 -> 1.
The baseline runs the same DAG with the same parallelism as plain asyncio subprocesses
(`/bin/sh -c true` per task, a semaphore, nothing else), so the ratio is what the engine adds:
workspace, events, output capture, bookkeeping. Target: ratio <= 1.5.

    python -m bench.dag [--repeat 5]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bench.harness import emit
from xene.api.plan import RunPlan, compile_plan
from xene.api.workflow import PipelineSpec
from xene.engine import PipelineRunner, RunOptions
from xene.engine.executors.process import ProcessExecutor

PARALLELISM = 4


def chain(length: int = 20) -> dict[str, list[str]]:
    """Task name -> dependencies: t00 <- t01 <- ... in a line."""
    return {f"t{i:02d}": [f"t{i - 1:02d}"] if i else [] for i in range(length)}


def fan_out(width: int = 50) -> dict[str, list[str]]:
    """Task name -> dependencies: one start, `width` middles, one end."""
    middles = {f"m{i:02d}": ["start"] for i in range(width)}
    return {"start": [], **middles, "end": list(middles)}


def plan_of(shape: Mapping[str, list[str]]) -> RunPlan:
    """The shape as the compiled plan of a pipeline of one-step `true` tasks."""
    spec = PipelineSpec.model_validate(
        {
            "tasks": {
                name: {"dependencies": deps, "steps": [{"name": "s", "run": "true"}]}
                for name, deps in shape.items()
            }
        }
    )
    return compile_plan(spec)


async def run_engine(shape: Mapping[str, list[str]], root: Path, number: int) -> float:
    """Seconds for Xene's engine to run the shape with the process executor."""
    executor = ProcessExecutor(root)
    runner = PipelineRunner(
        plan_of(shape),
        executor,
        run_id=f"bench.dag.{number}",
        options=RunOptions(parallelism=PARALLELISM),
    )
    started = time.perf_counter()
    status = await runner.run()
    seconds = time.perf_counter() - started
    if status.phase.value != "Succeeded":
        raise RuntimeError(f"the engine's run ended {status.phase.value}: {status.message}")
    return seconds


async def run_bare(shape: Mapping[str, list[str]]) -> float:
    """Seconds for a minimal asyncio runner: each task waits for its dependencies, then
    runs `/bin/sh -c true` under a semaphore of PARALLELISM."""
    slots = asyncio.Semaphore(PARALLELISM)
    done = {name: asyncio.Event() for name in shape}

    async def task(name: str) -> None:
        for dependency in shape[name]:
            await done[dependency].wait()
        async with slots:
            process = await asyncio.create_subprocess_exec("/bin/sh", "-c", "true")
            if await process.wait() != 0:
                raise RuntimeError(f"task {name} failed")
        done[name].set()

    started = time.perf_counter()
    async with asyncio.TaskGroup() as group:
        for name in shape:
            group.create_task(task(name))
    return time.perf_counter() - started


async def measure(repeat: int) -> dict[str, Any]:
    """Median of `repeat` alternating runs of both runners for each shape."""
    figures: dict[str, Any] = {"benchmark": "dag", "parallelism": PARALLELISM, "repeat": repeat}
    with tempfile.TemporaryDirectory(prefix="xene-bench-dag-") as root:
        number = 0
        for label, shape in (("chain20", chain()), ("fanout50", fan_out())):
            engine: list[float] = []
            bare: list[float] = []
            await run_engine(shape, Path(root), number)  # warm-up (imports, caches)
            for _ in range(repeat):
                number += 1
                engine.append(await run_engine(shape, Path(root), number))
                bare.append(await run_bare(shape))
            figures[f"{label}_engine_s"] = statistics.median(engine)
            figures[f"{label}_bare_s"] = statistics.median(bare)
            figures[f"{label}_ratio"] = statistics.median(engine) / statistics.median(bare)
    figures["targets"] = {"chain20_ratio": "<= 1.5", "fanout50_ratio": "<= 1.5"}
    return figures


def main() -> None:
    """Measure, print one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    emit(asyncio.run(measure(args.repeat)))


if __name__ == "__main__":
    main()
