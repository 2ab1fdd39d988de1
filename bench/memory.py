"""Memory: RSS of an idle xene-agent and of xene-apiserver holding 10,000 pipelines.

Baselines from the same run: a bare `python -c` interpreter for the agent, the idle apiserver
(no objects, no agents) for the loaded one.

    python -m bench.memory [--pipelines 10000] [--agents 100]
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import time
from typing import Any

import docker
import httpx

from bench.harness import (
    MIB,
    ApiServer,
    Cluster,
    emit,
    peak_rss_bytes,
    rss_bytes,
    settled_rss,
    spawn_agent,
)
from bench.scale import apply_rate, workflow_document
from bench.simagents import SimFleet
from xene.store.etcd import EtcdClient


def bare_python_rss() -> int:
    """RSS of an interpreter doing nothing: the floor every Python process starts from."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        time.sleep(1.0)
        return rss_bytes(process.pid)
    finally:
        process.kill()
        process.wait()


def docker_available() -> bool:
    """A Docker engine answers at DOCKER_HOST (or the default socket)."""
    try:
        client = docker.from_env(timeout=5)
        try:
            client.ping()
        finally:
            client.close()
    except Exception:
        return False
    return True


def agent_rss(cluster: Cluster, server: ApiServer, executors: str) -> tuple[int, int]:
    """(settled RSS, peak RSS) of a real xene-agent, connected and Ready, running nothing."""
    name = f"idle-{executors.replace(',', '-')}"
    process = spawn_agent(cluster, server, name, "--executors", executors)
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"xene-agent exited with {process.returncode}; see its log")
            response = httpx.get(f"{server.url}/api/v1/agents/{name}", timeout=5)
            if response.status_code == 200 and response.json()["status"].get("phase") == "Ready":
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"agent {name} did not become Ready")
            time.sleep(0.2)
        return settled_rss(process.pid), peak_rss_bytes(process.pid)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def count_pipelines(endpoint: str) -> int:
    """How many Pipeline objects etcd holds."""
    client = EtcdClient([endpoint], timeout=30.0)
    try:
        result = await client.get_prefix("/xene/registry/pipelines/", keys_only=True)
        return len(result.kvs)
    finally:
        await client.close()


async def load_apiserver(
    server: ApiServer, endpoint: str, args: argparse.Namespace
) -> dict[str, Any]:
    """Apply the workflows with a small fleet connected; wait until all are placed."""
    workflows = max(1, args.pipelines // args.per_workflow)
    total = workflows * args.per_workflow
    documents = [workflow_document(i, args.per_workflow) for i in range(workflows)]
    fleet = SimFleet(server.grpc_address)
    try:
        capacity = max(1, -(-total // max(1, args.agents)))
        for index in range(args.agents):
            fleet.add(f"agent-{index:05d}", {"bench": "yes"}, capacity)
        await fleet.wait_welcomed(120)
        await apply_rate(server, documents, 16)
        placed = await fleet.wait_assigned(total, args.timeout) if args.agents else False
        stored = await count_pipelines(endpoint)
        figures: dict[str, Any] = {"pipelines": stored, "pipelines_placed": placed}
        figures["apiserver_loaded_rss_mib"] = (
            await asyncio.to_thread(settled_rss, server.process.pid) / MIB
        )
        figures["apiserver_loaded_peak_rss_mib"] = peak_rss_bytes(server.process.pid) / MIB
        return figures
    finally:
        await fleet.close()


def main() -> None:
    """Measure, print one JSON line, clean up."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pipelines", type=int, default=10_000)
    parser.add_argument("--per-workflow", type=int, default=10)
    parser.add_argument("--agents", type=int, default=100, help="simulated agents connected")
    parser.add_argument("--timeout", type=float, default=300.0)
    args = parser.parse_args()
    figures: dict[str, Any] = {"benchmark": "memory"}
    with Cluster() as cluster:
        endpoint = cluster.start_etcd()
        server = cluster.start_apiserver()
        figures["baseline_bare_python_rss_mib"] = bare_python_rss() / MIB
        settled, peak = agent_rss(cluster, server, "process")
        figures["agent_idle_rss_mib"] = settled / MIB
        figures["agent_idle_peak_rss_mib"] = peak / MIB
        figures["agent_vs_bare_python"] = settled / (figures["baseline_bare_python_rss_mib"] * MIB)
        if docker_available():
            settled, _ = agent_rss(cluster, server, "docker,process")
            figures["agent_idle_docker_rss_mib"] = settled / MIB
        figures["baseline_apiserver_idle_rss_mib"] = settled_rss(server.process.pid) / MIB
        figures.update(asyncio.run(load_apiserver(server, endpoint, args)))
        figures["apiserver_loaded_vs_idle"] = (
            figures["apiserver_loaded_rss_mib"] / figures["baseline_apiserver_idle_rss_mib"]
        )
    figures["targets"] = {"agent_idle_rss_mib": "<= 60", "apiserver_loaded_rss_mib": "<= 300"}
    emit(figures)


if __name__ == "__main__":
    main()
