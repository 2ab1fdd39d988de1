"""Trigger latency: webhook POST -> the first step's command starts, through apiserver and agent.

The step itself prints the time it started (`date +%s.%N` on the host; busybox `adjtimex` in a
container, whose clock is the host's), and the benchmark subtracts the time just before it sent
the signed webhook. Three real `xene-agent` processes in turn: the process executor, the Docker
executor with fresh containers (`--warm-pool-size 0`) and with the warm pool (`--warm-pool-size
1 --warm-pool-images IMAGE`). Each is stopped with SIGTERM afterwards and must leave no container
or volume with its label.

Baselines from the same run: a bare `subprocess.run(["true"])`; a bare `docker run --rm IMAGE`
and a bare `docker exec` into a running container, both through the Docker API Xene uses, to the
moment their command starts (same stamp command as the steps). Targets (issue 6): process p50
<= 20 ms; Docker p50 <= bare `docker run` + 50 ms, and <= bare `docker exec` + 30 ms with the
warm pool.

    DOCKER_HOST=unix:///run/xene-docker.sock python -m bench.latency [--repeat 50]
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import math
import signal
import statistics
import subprocess
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from bench.harness import ApiServer, Cluster, emit, spawn_agent

STAMP = "XENE_T0"
PROCESS_STAMP = f'echo "{STAMP} $(date +%s.%N)"'
# busybox `date` has no %N; adjtimex reads the same clock with microseconds.
CONTAINER_STAMP = (
    "adjtimex | awk '/tv_sec/ {s = $2} /tv_usec/ {u = $2} "
    f'END {{printf "{STAMP} %d.%06d\\n", s, u}}\''
)
KEEPALIVE = ["/bin/sh", "-c", "trap 'exit 0' TERM; while :; do sleep 3600 & wait; done"]
SECRET = uuid.uuid4().hex
LABEL_AGENT = "xene.dev/agent"
LABEL_POOL = "xene.dev/pool"


def percentiles(samples: list[float]) -> tuple[float, float]:
    """(p50, p99) in milliseconds; p99 by nearest rank (the maximum below 100 samples)."""
    ordered = sorted(samples)
    p99 = ordered[max(0, math.ceil(0.99 * len(ordered)) - 1)]
    return statistics.median(ordered) * 1000, p99 * 1000


def stamp_of(text: str) -> float:
    """The time a step printed with STAMP."""
    for line in text.splitlines():
        if STAMP in line:
            return float(line.split(STAMP, 1)[1].split()[0])
    raise RuntimeError(f"no {STAMP} line in: {text[-500:]!r}")


# -- baselines ----------------------------------------------------------------------------------


def bare_subprocess(repeat: int) -> list[float]:
    """Seconds for `subprocess.run(["true"])`."""
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        subprocess.run(["true"], check=True)
        samples.append(time.perf_counter() - started)
    return samples


def bare_docker(client: Any, image: str, repeat: int) -> dict[str, list[float]]:
    """`docker run --rm` (to the command's start, and in total) and `docker exec` (to start)."""
    run_start, run_total, exec_start = [], [], []
    for _ in range(repeat):
        sent = time.time()
        started = time.perf_counter()
        output = client.containers.run(
            image, ["/bin/sh", "-c", CONTAINER_STAMP], remove=True, network_mode="none"
        )
        run_total.append(time.perf_counter() - started)
        run_start.append(stamp_of(output.decode()) - sent)
    keeper = client.containers.run(image, KEEPALIVE, detach=True, network_mode="none")
    try:
        api = client.api
        for _ in range(repeat):
            sent = time.time()
            created = api.exec_create(keeper.id, ["/bin/sh", "-c", CONTAINER_STAMP])
            output = api.exec_start(created["Id"])
            exec_start.append(stamp_of(output.decode()) - sent)
    finally:
        keeper.remove(force=True)
    return {"run_start": run_start, "run_total": run_total, "exec_start": exec_start}


# -- Xene -------------------------------------------------------------------------------------


def workflow(image: str, secret_file: str) -> dict[str, Any]:
    """One webhook trigger; a one-step pipeline per agent role, each placed on its own agent."""

    def pipeline(role: str, executor: str) -> dict[str, Any]:
        task: dict[str, Any] = {"steps": [{"name": "stamp", "run": PROCESS_STAMP}]}
        if executor == "docker":
            task = {"image": image, "steps": [{"name": "stamp", "run": CONTAINER_STAMP}]}
        return {
            "executor": executor,
            "triggers": ["hook"],
            "agentSelector": {"bench-role": role},
            "tasks": {"main": task},
        }

    return {
        "apiVersion": "xene.dev/v1",
        "kind": "Workflow",
        "metadata": {"name": "lat"},
        "spec": {
            "triggers": [{"name": "hook", "type": "webhook", "secretFile": secret_file}],
            "pipelines": {
                "proc": pipeline("proc", "process"),
                "fresh": pipeline("fresh", "docker"),
                "warm": pipeline("warm", "docker"),
            },
        },
    }


@dataclass
class Agent:
    """A real xene-agent process serving one role."""

    name: str
    process: subprocess.Popen[bytes]

    def stop(self) -> int:
        """SIGTERM and wait (SIGKILL after 30 s); the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return int(self.process.returncode)


def start_agent(cluster: Cluster, server: ApiServer, role: str, *extra: str) -> Agent:
    """Start xene-agent `lat-<role>` labelled bench-role=<role>; returns once it is Ready."""
    name = f"lat-{role}"
    process = spawn_agent(cluster, server, name, "--labels", f"bench-role={role}", *extra)
    agent = Agent(name, process)
    try:
        wait(
            lambda: pipeline_agent(server, f"lat.{role}") == name,
            60,
            f"lat.{role} to be placed on {name}",
            process,
        )
    except BaseException:
        agent.stop()
        raise
    return agent


def pipeline_agent(server: ApiServer, pipeline: str) -> str | None:
    """The agent a pipeline is scheduled on."""
    response = httpx.get(f"{server.url}/api/v1/pipelines/{pipeline}", timeout=5)
    if response.status_code != 200:
        return None
    status = response.json().get("status") or {}
    return status.get("agent") if status.get("phase") == "Scheduled" else None


def wait(
    condition: Callable[[], Any],
    timeout: float,
    what: str,
    process: subprocess.Popen[bytes] | None = None,
    interval: float = 0.05,
) -> Any:
    """Poll until `condition` is truthy; fail naming `what` (or the process that died)."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the process exited with {process.returncode} before {what}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def fire(http: httpx.Client, pipeline: str) -> tuple[float, str]:
    """POST a signed webhook for `pipeline`; (the time just before sending, the run's name)."""
    body = json.dumps({"bench": "latency", "at": time.time()}).encode()
    signature = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    headers = {
        "Content-Type": "application/json",
        "X-Xene-Signature-256": signature,
        "X-Xene-Delivery": uuid.uuid4().hex,
    }
    sent = time.time()
    response = http.post(f"/api/v1/webhooks/lat/{pipeline}/hook", content=body, headers=headers)
    if response.status_code != 202:
        raise RuntimeError(f"webhook answered {response.status_code}: {response.text}")
    return sent, str(response.json()["run"])


def run_phase(http: httpx.Client, run: str) -> str:
    """The run's phase."""
    return str(http.get(f"/api/v1/pipelineruns/{run}").json()["status"].get("phase", ""))


def trigger_latencies(
    http: httpx.Client,
    pipeline: str,
    repeat: int,
    before_each: Callable[[], None] | None = None,
) -> list[float]:
    """Seconds from webhook POST to the step's own start stamp, `repeat` runs (+1 warm-up)."""
    samples = []
    for number in range(repeat + 1):
        if before_each is not None:
            before_each()
        sent, run = fire(http, pipeline)

        def ended(run: str = run) -> str | None:
            phase = run_phase(http, run)
            return phase if phase in ("Succeeded", "Failed") else None

        phase = wait(
            ended,
            120,
            f"run {run} to end",
            interval=0.02,
        )
        logs = http.get(f"/api/v1/pipelineruns/{run}/logs").text
        if phase != "Succeeded":
            raise RuntimeError(f"run {run} ended {phase}: {logs[-1000:]}")
        if number > 0:  # the first run warms imports, image inspection and connections
            samples.append(stamp_of(logs) - sent)
    return samples


def agent_leftovers(client: Any, agent: str) -> int:
    """Containers plus volumes still labelled as `agent`'s."""
    label = {"label": [f"{LABEL_AGENT}={agent}"]}
    return len(client.containers.list(all=True, filters=label)) + len(
        client.volumes.list(filters=label)
    )


def docker_client() -> Any:
    """A Docker client that answers, or None."""
    try:
        import docker

        client = docker.from_env(timeout=60)
        client.ping()
        return client
    except Exception:
        return None


def main() -> None:
    """Measure, print one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=50, help="runs per configuration [50]")
    parser.add_argument("--image", default="busybox:latest")
    args = parser.parse_args()
    if args.repeat < 1:
        parser.error("--repeat must be 1 or more")
    client = docker_client()
    if client is not None:
        try:
            client.images.get(args.image)
        except Exception:
            raise SystemExit(
                f"image {args.image} is not present; scripts/build-test-image.sh builds "
                "busybox:latest"
            ) from None
    figures: dict[str, Any] = {"benchmark": "latency", "repeat": args.repeat}
    figures["baseline_subprocess_p50_ms"], figures["baseline_subprocess_p99_ms"] = percentiles(
        bare_subprocess(args.repeat)
    )
    if client is not None:
        bare = bare_docker(client, args.image, args.repeat)
        for key, samples in bare.items():
            p50, p99 = percentiles(samples)
            figures[f"baseline_docker_{key}_p50_ms"] = p50
            figures[f"baseline_docker_{key}_p99_ms"] = p99
    with Cluster() as cluster:
        secret_file = cluster.root / "hook-secret"
        secret_file.write_text(SECRET)
        server = cluster.start_apiserver()
        with httpx.Client(base_url=server.url, timeout=30) as http:
            applied = http.post("/api/v1/apply", json=workflow(args.image, str(secret_file)))
            if applied.status_code not in (200, 201):
                raise RuntimeError(f"apply failed: {applied.text}")
            roles: list[tuple[str, list[str]]] = [("proc", ["--executors", "process"])]
            if client is not None:
                docker_args = ["--executors", "docker,process", "--executor", "docker"]
                roles += [
                    ("fresh", [*docker_args, "--warm-pool-size", "0"]),
                    # Named images are warm before the first run, not only after it.
                    (
                        "warm",
                        [*docker_args, "--warm-pool-size", "1", "--warm-pool-images", args.image],
                    ),
                ]
            for role, extra in roles:
                agent = start_agent(cluster, server, role, *extra)
                before: Callable[[], None] | None = None
                if role == "warm":

                    def pool_ready(name: str = agent.name) -> None:
                        # Runs start on a full pool: its refill after the last run is done.
                        filters = {
                            "label": [f"{LABEL_AGENT}={name}", LABEL_POOL],
                            "status": "running",
                        }
                        wait(lambda: client.containers.list(filters=filters), 60, "a warm pool")

                    before = pool_ready
                try:
                    samples = trigger_latencies(http, role, args.repeat, before)
                finally:
                    code = agent.stop()
                p50, p99 = percentiles(samples)
                figures[f"xene_{role}_p50_ms"], figures[f"xene_{role}_p99_ms"] = p50, p99
                figures[f"agent_{role}_exit_code"] = code
                if client is not None and role != "proc":
                    figures[f"agent_{role}_leftovers"] = agent_leftovers(client, agent.name)
    targets: dict[str, str] = {"xene_proc_p50_ms": "<= 20"}
    if client is not None:
        figures["xene_fresh_minus_docker_run_ms"] = (
            figures["xene_fresh_p50_ms"] - figures["baseline_docker_run_start_p50_ms"]
        )
        figures["xene_warm_minus_docker_exec_ms"] = (
            figures["xene_warm_p50_ms"] - figures["baseline_docker_exec_start_p50_ms"]
        )
        figures["fresh_over_warm"] = figures["xene_fresh_p50_ms"] / figures["xene_warm_p50_ms"]
        targets["xene_fresh_minus_docker_run_ms"] = "<= 50"
        targets["xene_warm_minus_docker_exec_ms"] = "<= 30"
    else:
        figures["docker"] = "skipped: no Docker engine at DOCKER_HOST"
    figures["targets"] = targets
    emit(figures)


if __name__ == "__main__":
    main()
