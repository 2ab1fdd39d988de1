"""Docker start latency: run start -> the first step's first output line, with and without the
warm pool, against a bare `docker run --rm` and a bare `docker exec` into a running container.

The engine runs a one-task pipeline (`echo started`) with the Docker executor; the time is taken
when the step's output line reaches the run's observer. Targets (issue 6): fresh containers
p50 <= bare `docker run` + 50 ms; warm pool p50 <= bare `docker exec` + 30 ms.

    DOCKER_HOST=unix:///run/xene-docker.sock python -m bench.container_start [--repeat 20]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Callable
from typing import Any

import docker
import docker.errors

from bench.harness import emit
from xene.api.plan import compile_plan
from xene.api.workflow import PipelineSpec
from xene.engine import PipelineRunner, RunOptions
from xene.engine.events import LogLine, RunObserver
from xene.engine.executors.docker import DockerExecutor
from xene.engine.executors.pool import PoolSettings, WarmPool

KEEPALIVE = ["/bin/sh", "-c", "trap 'exit 0' TERM; while :; do sleep 3600 & wait; done"]


class FirstLine(RunObserver):
    """Notes when the first output line arrives."""

    def __init__(self) -> None:
        self.at: float | None = None

    async def on_log(self, line: LogLine) -> None:
        if self.at is None:
            self.at = time.perf_counter()


def percentiles(samples: list[float]) -> tuple[float, float]:
    """(p50, p90) in milliseconds."""
    ordered = sorted(samples)
    p90 = ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]
    return statistics.median(ordered) * 1000, p90 * 1000


def bare_run(client: docker.DockerClient, image: str) -> float:
    """Seconds for `docker run --rm IMAGE true` through the same API."""
    started = time.perf_counter()
    client.containers.run(image, ["true"], remove=True, network_mode="none")
    return time.perf_counter() - started


def bare_exec(client: docker.DockerClient, container_id: str) -> float:
    """Seconds from `docker exec` to the command's first output, in a running container."""
    api = client.api
    started = time.perf_counter()
    created = api.exec_create(container_id, ["/bin/sh", "-c", "echo started"])
    for _chunk in api.exec_start(created["Id"], stream=True):
        break
    return time.perf_counter() - started


async def engine_start(executor: DockerExecutor, number: int) -> float:
    """Seconds from a run's start to its first step's first output line."""
    spec = PipelineSpec.model_validate(
        {"tasks": {"t": {"steps": [{"name": "s", "run": "echo started"}]}}}
    )
    observer = FirstLine()
    runner = PipelineRunner(
        compile_plan(spec),
        executor,
        run_id=f"bench.start.{number}",
        observers=[observer],
        options=RunOptions(parallelism=1),
    )
    started = time.perf_counter()
    status = await runner.run()
    if status.phase.value != "Succeeded" or observer.at is None:
        raise RuntimeError(f"the run ended {status.phase.value}: {status.message}")
    return observer.at - started


async def measure_engine(
    make: Callable[[], DockerExecutor], repeat: int, warm: bool
) -> list[float]:
    """`repeat` runs on one executor (waiting for a full pool before each when `warm`)."""
    executor = make()
    samples: list[float] = []
    try:
        await engine_start(executor, 0)  # warm-up: image inspected, threads started
        for number in range(1, repeat + 1):
            if warm:
                factory = executor.factory
                assert isinstance(factory, WarmPool)
                await factory.wait_ready(within=60)
            samples.append(await engine_start(executor, number))
    finally:
        await executor.close()
    return samples


def main() -> None:
    """Measure, print one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--image", default="busybox:latest")
    args = parser.parse_args()
    client = docker.from_env(timeout=60)
    try:
        client.images.get(args.image)
    except docker.errors.ImageNotFound:
        raise SystemExit(
            f"image {args.image} is not present; scripts/build-test-image.sh builds busybox:latest"
        ) from None
    figures: dict[str, Any] = {"benchmark": "container_start", "repeat": args.repeat}
    keeper = client.containers.run(args.image, KEEPALIVE, detach=True, network_mode="none")
    try:
        runs = [bare_run(client, args.image) for _ in range(args.repeat)]
        execs = [bare_exec(client, keeper.id) for _ in range(args.repeat)]
    finally:
        keeper.remove(force=True)
    figures["baseline_docker_run_p50_ms"], figures["baseline_docker_run_p90_ms"] = percentiles(runs)
    figures["baseline_docker_exec_p50_ms"], figures["baseline_docker_exec_p90_ms"] = percentiles(
        execs
    )

    def fresh() -> DockerExecutor:
        return DockerExecutor(docker.from_env(timeout=60), default_image=args.image)

    def pooled() -> DockerExecutor:
        settings = PoolSettings(size=2, images=[args.image])
        return DockerExecutor(
            docker.from_env(timeout=60),
            default_image=args.image,
            factory=WarmPool.factory(settings),
        )

    fresh_samples = asyncio.run(measure_engine(fresh, args.repeat, warm=False))
    pooled_samples = asyncio.run(measure_engine(pooled, args.repeat, warm=True))
    figures["xene_fresh_p50_ms"], figures["xene_fresh_p90_ms"] = percentiles(fresh_samples)
    figures["xene_pooled_p50_ms"], figures["xene_pooled_p90_ms"] = percentiles(pooled_samples)
    figures["xene_fresh_minus_docker_run_ms"] = (
        figures["xene_fresh_p50_ms"] - figures["baseline_docker_run_p50_ms"]
    )
    figures["xene_pooled_minus_docker_exec_ms"] = (
        figures["xene_pooled_p50_ms"] - figures["baseline_docker_exec_p50_ms"]
    )
    figures["targets"] = {
        "xene_fresh_minus_docker_run_ms": "<= 50",
        "xene_pooled_minus_docker_exec_ms": "<= 30",
    }
    client.close()
    emit(figures)


if __name__ == "__main__":
    main()
