"""Start, stop and failure of the apiserver process and of the etcd under it."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest

from tests.e2e.helpers import eventually, load_example, names, one_task_pipeline, workflow
from tests.fixtures.servers import free_port, make_apiserver


def child_pids(pid: int) -> list[int]:
    """Direct children of a process, read from /proc."""
    children = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # Field 4 of /proc/PID/stat is the parent pid; the name field may hold spaces.
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid:
            children.append(int(entry.name))
    return children


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/status")
    return status.exists() and "zombie" not in status.read_text()


def test_embedded_etcd_keeps_data_across_restarts(tmp_path):
    client_port, peer_port = free_port(), free_port()
    server = make_apiserver(
        tmp_path,
        None,
        "--embedded-etcd-client-port",
        str(client_port),
        "--embedded-etcd-peer-port",
        str(peer_port),
    )
    server.start()
    try:
        etcd_children = child_pids(server.process.pid)
        assert etcd_children, "the embedded etcd should run as a child of the apiserver"
        with httpx.Client(base_url=server.url, timeout=10) as client:
            client.post("/api/v1/apply", json=load_example("hello.yaml")).raise_for_status()
            eventually(lambda: len(names(client, "pipelines")) >= 1)
        assert server.stop() == 0
        for pid in etcd_children:
            assert not alive(pid), "embedded etcd must stop with the apiserver"
        assert (tmp_path / "data" / "etcd").is_dir()

        server.start()
        with httpx.Client(base_url=server.url, timeout=10) as client:
            assert names(client, "workflows") == ["hello"]
            assert len(names(client, "pipelines")) >= 1
    finally:
        server.kill()


def test_etcd_outage_gives_503_then_recovers(apiserver, etcd_server):
    with httpx.Client(base_url=apiserver.url, timeout=20) as client:
        client.post("/api/v1/apply", json=workflow("keep", {"p": one_task_pipeline()}))
        etcd_server.stop()
        try:
            response = client.get("/api/v1/workflows")
            assert response.status_code == 503
            body = response.json()
            assert body["reason"] == "Unavailable"
            assert "etcd" in body["message"]
            assert "Traceback" not in response.text
            assert client.get("/readyz").status_code == 503
            write = client.post("/api/v1/apply", json=workflow("lost", {"p": one_task_pipeline()}))
            assert write.status_code == 503
        finally:
            etcd_server.start()
        eventually(lambda: client.get("/readyz").status_code == 200, timeout=30)
        assert names(client, "workflows") == ["keep"]


def test_api_token_is_required_when_configured(etcd_server, tmp_path):
    server = make_apiserver(tmp_path, etcd_server.endpoint, "--api-token", "s3cret")
    server.start()
    try:
        with httpx.Client(base_url=server.url, timeout=10) as client:
            missing = client.get("/api/v1/workflows")
            assert missing.status_code == 401
            assert "token" in missing.json()["message"]
            wrong = client.get("/api/v1/workflows", headers={"authorization": "Bearer nope"})
            assert wrong.status_code == 401
            right = client.get("/api/v1/workflows", headers={"authorization": "Bearer s3cret"})
            assert right.status_code == 200
            assert client.get("/healthz").status_code == 200
        assert "s3cret" not in server.logs()
    finally:
        server.kill()


def test_taken_port_is_a_clear_startup_error(apiserver, etcd_server, tmp_path):
    clash = make_apiserver(tmp_path / "second", etcd_server.endpoint)
    clash.args[clash.args.index("--http-address") + 1] = f"127.0.0.1:{apiserver.http_port}"
    clash.start(wait_ready=False)
    assert clash.process.wait(timeout=20) == 1
    assert "cannot listen for HTTP" in clash.logs()


@pytest.mark.parametrize(
    "flag", [["--http-address", "nonsense"], ["--agent-lease-ttl-seconds", "0"]]
)
def test_bad_flags_exit_1_with_message(tmp_path, flag):
    server = make_apiserver(tmp_path, "127.0.0.1:1", *flag)
    server.start(wait_ready=False)
    assert server.process.wait(timeout=20) == 1
    assert "error:" in server.logs()
