"""Scale: N simulated agents and M pipelines on one apiserver.

Figures: apply throughput of the workflows (with two baselines taken in the same run: a no-op
HTTP endpoint and raw etcd puts, at the same concurrency), time until every pipeline is
Scheduled and delivered to an agent, apiserver RSS, and time to re-place the pipelines of 100
agents killed at once (lease expiry included; the TTL is reported next to it).

    python -m bench.scale [--agents 1000] [--pipelines 10000] [--per-workflow 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from typing import Any

import httpx

from bench.harness import MIB, ApiServer, Cluster, emit, settled_rss
from bench.simagents import SimFleet
from xene.store.etcd import EtcdClient


def workflow_document(index: int, pipelines: int) -> dict[str, Any]:
    """Workflow `wf-<index>` with `pipelines` one-task process pipelines."""
    return {
        "apiVersion": "xene.dev/v1",
        "kind": "Workflow",
        "metadata": {"name": f"wf-{index:05d}"},
        "spec": {
            "pipelines": {
                f"p{number:03d}": {
                    "executor": "process",
                    "agentSelector": {"bench": "yes"},
                    "tasks": {"main": {"steps": [{"name": "hello", "run": "echo hello"}]}},
                }
                for number in range(pipelines)
            }
        },
    }


async def _concurrently(count: int, concurrency: int, one: Any) -> float:
    """Run `one(i)` for i in range(count) with `concurrency` workers; seconds taken."""
    queue: asyncio.Queue[int] = asyncio.Queue()
    for index in range(count):
        queue.put_nowait(index)

    async def worker() -> None:
        while not queue.empty():
            await one(queue.get_nowait())

    started = time.perf_counter()
    async with asyncio.TaskGroup() as group:
        for _ in range(concurrency):
            group.create_task(worker())
    return time.perf_counter() - started


async def http_noop_rate(server: ApiServer, count: int, concurrency: int) -> float:
    """Requests per second of GET /healthz: the HTTP stack's ceiling on this machine."""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=server.url, limits=limits, timeout=60) as client:

        async def one(_: int) -> None:
            (await client.get("/healthz")).raise_for_status()

        return count / await _concurrently(count, concurrency, one)


async def etcd_put_rate(endpoint: str, count: int, concurrency: int, size: int) -> float:
    """Puts per second of `size`-byte values straight to etcd: the store's ceiling."""
    client = EtcdClient([endpoint], timeout=30.0)
    value = b"x" * size
    try:

        async def one(index: int) -> None:
            await client.put(f"/bench/put/{index}", value)

        return count / await _concurrently(count, concurrency, one)
    finally:
        await client.close()


async def apply_rate(
    server: ApiServer, documents: list[dict[str, Any]], concurrency: int
) -> tuple[float, float]:
    """Apply every document through POST /api/v1/apply; (per second, seconds)."""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    bodies = [json.dumps(document).encode() for document in documents]
    async with httpx.AsyncClient(base_url=server.url, limits=limits, timeout=120) as client:

        async def one(index: int) -> None:
            response = await client.post(
                "/api/v1/apply", content=bodies[index], headers={"content-type": "application/json"}
            )
            if response.status_code not in (200, 201):
                raise RuntimeError(f"apply failed: {response.status_code} {response.text[:300]}")

        seconds = await _concurrently(len(bodies), concurrency, one)
    return len(bodies) / seconds, seconds


async def count_scheduled(server: ApiServer) -> tuple[int, float]:
    """(pipelines whose stored status is Scheduled, seconds the REST list took)."""
    started = time.perf_counter()
    async with httpx.AsyncClient(base_url=server.url, timeout=300) as client:
        response = await client.get("/api/v1/pipelines")
        response.raise_for_status()
    seconds = time.perf_counter() - started
    items = response.json()["items"]
    return sum(1 for item in items if item["status"].get("phase") == "Scheduled"), seconds


async def etcd_rpc_counts(endpoint: str) -> dict[str, float]:
    """RPCs etcd has handled so far, by method (from its /metrics)."""
    async with httpx.AsyncClient(timeout=30) as client:
        text = (await client.get(f"http://{endpoint}/metrics")).text
    counts: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("grpc_server_handled_total{"):
            labels, _, value = line.rpartition(" ")
            method = labels.split('grpc_method="', 1)[1].split('"', 1)[0]
            counts[method] = counts.get(method, 0.0) + float(value)
    return counts


def rpcs_per(before: dict[str, float], after: dict[str, float], count: int) -> dict[str, float]:
    """Per-item RPCs between two etcd_rpc_counts, for the methods that moved."""
    return {
        method: round((after.get(method, 0.0) - before.get(method, 0.0)) / count, 2)
        for method in sorted(after)
        if after.get(method, 0.0) > before.get(method, 0.0)
    }


async def wait_leases_gone(endpoint: str, names: set[str], within: float) -> float | None:
    """Seconds until none of `names` has a liveness key in etcd any more (None: timed out)."""
    prefix = "/xene/alive/agents/"
    client = EtcdClient([endpoint], timeout=30.0)
    started = time.perf_counter()
    try:
        while time.perf_counter() - started < within:
            result = await client.get_prefix(prefix, keys_only=True)
            alive = {kv.key.decode()[len(prefix) :] for kv in result.kvs}
            if not alive & names:
                return time.perf_counter() - started
            await asyncio.sleep(0.05)
    finally:
        await client.close()
    return None


async def measure(args: argparse.Namespace, cluster: Cluster) -> dict[str, Any]:
    """The whole scenario; returns the figures."""
    endpoint = cluster.start_etcd()
    server = cluster.start_apiserver(lease_ttl=args.lease_ttl)
    figures: dict[str, Any] = {
        "benchmark": "scale",
        "agents": args.agents,
        "pipelines": args.pipelines,
        "lease_ttl_s": args.lease_ttl,
    }
    figures["apiserver_idle_rss_mib"] = server.rss / MIB
    workflows = max(1, args.pipelines // args.per_workflow)
    total = workflows * args.per_workflow
    figures["pipelines"] = total
    documents = [workflow_document(i, args.per_workflow) for i in range(workflows)]
    capacity = max(1, -(-2 * total // args.agents))  # room for the killed agents' share

    fleet = SimFleet(server.grpc_address, args.agents_per_channel)
    try:
        started = time.perf_counter()
        for index in range(args.agents):
            fleet.add(
                f"agent-{index:05d}",
                {"bench": "yes", "zone": f"z{index % 4}"},
                capacity,
                report_states=args.report_states,
            )
        await fleet.wait_welcomed(args.timeout)
        figures["agents_connect_s"] = time.perf_counter() - started
        await asyncio.sleep(1.0)  # let registrations settle before the baselines
        idle_cpu = server.cpu_seconds
        await asyncio.sleep(2.0)
        # What the connected, idle fleet costs (heartbeats): CPU seconds per second.
        figures["apiserver_idle_fleet_cpu"] = (server.cpu_seconds - idle_cpu) / 2.0

        # Baselines, same concurrency and same machine state (agents connected and idle).
        noop_count = max(200, len(documents))
        figures["baseline_http_noop_per_s"] = await http_noop_rate(
            server, noop_count, args.concurrency
        )
        figures["baseline_etcd_put_per_s"] = await etcd_put_rate(
            endpoint, len(documents), args.concurrency, len(json.dumps(documents[0]))
        )

        rpcs_before = await etcd_rpc_counts(endpoint)
        placement_started = time.perf_counter()
        cpu_started = server.cpu_seconds
        rate, seconds = await apply_rate(server, documents, args.concurrency)
        figures["apply_per_s"] = rate
        figures["apply_s"] = seconds
        figures["apply_vs_http_noop"] = rate / figures["baseline_http_noop_per_s"]
        figures["apply_vs_etcd_put"] = rate / figures["baseline_etcd_put_per_s"]
        placed = await fleet.wait_assigned(total, args.timeout)
        done = time.perf_counter()
        figures["place_all_s"] = done - placement_started if placed else None
        figures["place_after_last_apply_s"] = done - placement_started - seconds if placed else None
        figures["apiserver_cpu_s_apply_and_place"] = server.cpu_seconds - cpu_started
        # Machine-independent: etcd round trips per pipeline (heartbeats of the period included).
        figures["etcd_rpcs_per_pipeline"] = rpcs_per(
            rpcs_before, await etcd_rpc_counts(endpoint), total
        )
        figures["assigned_at_end"] = fleet.assigned_total
        figures["apiserver_rss_mib"] = server.rss / MIB
        settled = await asyncio.to_thread(settled_rss, server.process.pid)
        figures["apiserver_settled_rss_mib"] = settled / MIB
        scheduled, list_seconds = await count_scheduled(server)
        figures["scheduled_in_store"] = scheduled
        figures["list_pipelines_s"] = list_seconds

        if placed and args.kill:
            victims = [agent for agent in fleet.agents if agent.assigned][: args.kill]
            moved = sum(len(agent.assigned) for agent in victims)
            started = time.perf_counter()
            cpu_started = server.cpu_seconds
            await asyncio.gather(*(agent.kill() for agent in victims))
            expiry = asyncio.create_task(
                wait_leases_gone(endpoint, {agent.name for agent in victims}, args.timeout)
            )
            replaced = await fleet.wait_assigned(total, args.timeout)
            seconds = time.perf_counter() - started
            expired = await expiry
            figures["apiserver_cpu_s_replace"] = server.cpu_seconds - cpu_started
            figures["killed_agents"] = len(victims)
            figures["pipelines_moved"] = moved
            figures["replace_s"] = seconds if replaced else None
            # The part the server controls: from the last lease running out to all re-placed.
            figures["leases_expired_s"] = expired
            figures["replace_after_leases_s"] = (
                seconds - expired if replaced and expired is not None else None
            )
            figures["apiserver_rss_after_replace_mib"] = server.rss / MIB
        figures["stream_errors"] = fleet.errors()[:5]
    finally:
        await fleet.close()
    figures["targets"] = {"place_all_s": "<= 10", "apply_per_s": ">= 500"}
    return figures


def main() -> None:
    """Parse flags, run the scenario, print one JSON line, clean up."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=1000)
    parser.add_argument("--pipelines", type=int, default=10_000)
    parser.add_argument("--per-workflow", type=int, default=10, help="pipelines per workflow")
    parser.add_argument("--concurrency", type=int, default=32, help="concurrent HTTP clients")
    parser.add_argument("--kill", type=int, default=100, help="agents killed at once (0: none)")
    parser.add_argument("--lease-ttl", type=int, default=10, help="agent lease TTL in seconds")
    parser.add_argument("--agents-per-channel", type=int, default=10)
    parser.add_argument(
        "--report-states", action="store_true", help="agents report each pipeline as Running"
    )
    parser.add_argument("--timeout", type=float, default=300.0, help="per phase, seconds")
    args = parser.parse_args()
    with Cluster() as cluster:
        figures = asyncio.run(measure(args, cluster))
    emit(figures)


if __name__ == "__main__":
    main()
