"""A client that keeps its connection open gets each answer at once, not after a delayed ACK.

Without TCP_NODELAY on accepted sockets, a response written in two pieces (head, then body)
waits for the client's delayed ACK of the first piece: about 40 ms per request on Linux.
"""

from __future__ import annotations

import statistics
import time

import httpx

from tests.fixtures.servers import ApiServerProcess

REQUESTS = 30
# Far under the ~40 ms a delayed ACK costs, far over a loopback round trip on a busy machine.
MEDIAN_LIMIT_SECONDS = 0.020


def timed_requests(client: httpx.Client, path: str) -> list[float]:
    """Seconds each of REQUESTS sequential GETs of `path` took on one connection."""
    took = []
    for _ in range(REQUESTS):
        started = time.perf_counter()
        client.get(path).raise_for_status()
        took.append(time.perf_counter() - started)
    return took


def test_sequential_requests_on_one_connection_are_not_held_back(
    apiserver: ApiServerProcess,
) -> None:
    transport = httpx.HTTPTransport(limits=httpx.Limits(max_connections=1))
    with httpx.Client(base_url=apiserver.url, timeout=10, transport=transport) as client:
        client.get("/healthz").raise_for_status()  # the connection is open from here on
        health = timed_requests(client, "/healthz")
        lists = timed_requests(client, "/api/v1/workflows")
    for what, took in (("/healthz", health), ("/api/v1/workflows", lists)):
        median = statistics.median(took)
        assert median < MEDIAN_LIMIT_SECONDS, (
            f"{what}: median {median * 1000:.1f} ms per request on a kept-alive connection "
            f"(each: {', '.join(f'{t * 1000:.0f}' for t in took)} ms)"
        )
