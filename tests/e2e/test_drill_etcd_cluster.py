"""Drill: the apiserver on a three-member etcd cluster while members die and come back."""

from __future__ import annotations

import subprocess

import httpx
import pytest

from tests.e2e.helpers import eventually, names, one_task_pipeline, workflow
from tests.fixtures.etcd_cluster import EtcdCluster
from tests.fixtures.servers import make_apiserver

pytestmark = pytest.mark.slow


@pytest.fixture
def cluster_apiserver(etcd_cluster: EtcdCluster, tmp_path):
    server = make_apiserver(tmp_path, etcd_cluster.endpoints)
    server.start()
    try:
        yield server
    finally:
        if server.process is not None and server.process.poll() is None:
            try:
                server.stop()
            except subprocess.TimeoutExpired:
                server.kill()


def apply(client: httpx.Client, name: str) -> httpx.Response:
    return client.post("/api/v1/apply", json=workflow(name, {"build": one_task_pipeline()}))


def test_one_member_lost_is_invisible_two_lost_is_a_clear_503_that_heals(
    etcd_cluster: EtcdCluster, cluster_apiserver
):
    with httpx.Client(base_url=cluster_apiserver.url, timeout=30) as client:
        for index in range(5):
            assert apply(client, f"before-{index}").status_code == 201

        # The first endpoint is the one the apiserver dialled first: take it away mid-traffic.
        etcd_cluster.members[0].kill()
        statuses = [apply(client, f"one-down-{index}").status_code for index in range(10)]
        assert statuses == [201] * 10, statuses
        assert client.get("/readyz").status_code == 200
        assert client.get("/api/v1/workflows/before-0").status_code == 200
        eventually(lambda: "one-down-9.build" in names(client, "pipelines"), timeout=20)

        # Without a quorum the API answers 503 naming etcd, and writes nothing.
        etcd_cluster.members[1].kill()
        assert eventually(lambda: client.get("/readyz").status_code == 503, timeout=20)
        refused = apply(client, "no-quorum")
        assert refused.status_code == 503, refused.text
        assert "etcd" in refused.json()["message"], refused.text

        # The members come back with their data; the apiserver recovers without a restart.
        etcd_cluster.start(etcd_cluster.members[:2])
        eventually(lambda: client.get("/readyz").status_code == 200, timeout=30)
        assert eventually(lambda: apply(client, "after").status_code == 201, timeout=30)
        stored = names(client, "workflows")
        assert "no-quorum" not in stored
        expected = {f"before-{i}" for i in range(5)} | {f"one-down-{i}" for i in range(10)}
        assert expected | {"after"} == set(stored)
        eventually(lambda: "after.build" in names(client, "pipelines"), timeout=20)
