"""`xenectl run --local` and `xenectl report` as a user runs them: no server, a real executor."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.e2e.helpers import REPO
from tests.fixtures.docker import DockerEngine
from tests.fixtures.servers import console_script, free_port

FLOW = """\
apiVersion: xene.dev/v1
kind: Workflow
metadata:
  name: flow
spec:
  pipelines:
    dag:
      tasks:
        prepare:
          image: busybox:latest
          steps:
            - name: seed
              run: echo "$GREETING" > seed.txt
        left:
          image: busybox:latest
          dependencies: [prepare]
          steps:
            - name: write
              run: cat seed.txt > left.txt && echo left >> left.txt
        right:
          image: busybox:latest
          dependencies: [prepare]
          steps:
            - name: flaky
              run: echo "warming up"; exit 3
              allowFailure: true
            - name: write
              run: echo right > right.txt
        join:
          image: busybox:latest
          dependencies: [left, right]
          steps:
            - name: combine
              run: cat left.txt right.txt
    broken:
      tasks:
        first:
          image: busybox:latest
          steps:
            - name: fail
              run: echo "about to fail" && exit 7
        second:
          image: busybox:latest
          dependencies: [first]
          steps:
            - name: never
              run: echo never
"""


def local_env(tmp_path: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("XENE_")}
    env["HOME"] = str(tmp_path / "home")
    # Nothing listens here: `report` must still list local reports.
    env["XENE_SERVER"] = f"http://127.0.0.1:{free_port()}"
    env.update(extra or {})
    return env


def xenectl(env: dict[str, str], *args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [console_script("xenectl"), *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def flow_file(tmp_path: Path) -> Path:
    path = tmp_path / "flow.yaml"
    path.write_text(FLOW)
    return path


def read_report(env: dict[str, str], name: str) -> dict:
    path = Path(env["HOME"]) / ".xene" / "reports" / f"{name}.json"
    return json.loads(path.read_text())


def test_local_run_with_the_process_executor_and_reports(tmp_path: Path, flow_file: Path) -> None:
    env = local_env(tmp_path)
    ok = xenectl(
        env,
        "run",
        "--local",
        "-f",
        str(flow_file),
        "--pipeline",
        "dag",
        "--executor",
        "process",
        "-p",
        "GREETING=hello there",
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "[join/combine] hello there" in ok.stdout
    assert "[join/combine] left" in ok.stdout
    assert "[join/combine] right" in ok.stdout
    assert "[right/flaky] warming up" in ok.stdout
    assert "==> run flow.dag.1 Succeeded; report: " in ok.stdout

    report = read_report(env, "flow.dag.1")
    assert report["spec"]["workflow"] == "flow"
    assert report["spec"]["pipeline"] == "dag"
    assert report["spec"]["number"] == 1
    assert report["spec"]["trigger"]["type"] == "local"
    assert report["spec"]["parameters"] == {"GREETING": "hello there"}
    assert report["status"]["phase"] == "Succeeded"
    assert report["report"]["executor"] == "process"
    flaky = report["status"]["tasks"]["right"]["steps"][0]
    assert (flaky["name"], flaky["state"], flaky["exitCode"]) == ("flaky", "Error", 3)
    assert report["status"]["tasks"]["join"]["phase"] == "Succeeded"
    assert report["status"]["startedAt"] <= report["status"]["finishedAt"]
    log = Path(report["report"]["logFile"]).read_text()
    assert "[join/combine] hello there\n" in log

    failed = xenectl(env, "run", "--local", "-f", str(flow_file), "broken", "--executor", "process")
    assert failed.returncode == 3  # the run failed (1 is a user error)
    assert "[first/fail] about to fail" in failed.stdout
    broken = read_report(env, "flow.broken.1")
    assert broken["status"]["phase"] == "Failed"
    tasks = broken["status"]["tasks"]
    assert tasks["first"]["steps"][0]["exitCode"] == 7
    assert tasks["second"]["phase"] == "Skipped"

    again = xenectl(
        env, "run", "--local", "-f", str(flow_file), "--pipeline", "dag", "--executor", "process"
    )
    assert again.returncode == 0, again.stdout + again.stderr
    assert read_report(env, "flow.dag.2")["spec"]["number"] == 2

    listed = xenectl(env, "report")
    assert listed.returncode == 0, listed.stderr
    assert "warning: server runs not listed" in listed.stderr
    rows = [line.split()[:4] for line in listed.stdout.splitlines()[1:]]
    assert sorted(rows) == [
        ["local", "flow/broken", "1", "Failed"],
        ["local", "flow/dag", "1", "Succeeded"],
        ["local", "flow/dag", "2", "Succeeded"],
    ]
    only_failed = xenectl(env, "report", "--source", "local", "--status", "failed")
    assert [line.split()[1] for line in only_failed.stdout.splitlines()[1:]] == ["flow/broken"]
    by_task = xenectl(env, "report", "--source", "local", "--task", "second")
    assert by_task.stdout.splitlines()[1].split()[7:9] == ["second", "Skipped"]
    one = xenectl(env, "report", "--source", "local", "--pipeline", "flow/dag", "--run", "1")
    assert "flaky:  Error (exit 3)" in one.stdout


def test_local_run_of_a_file_with_problems_changes_nothing(tmp_path: Path, flow_file: Path) -> None:
    env = local_env(tmp_path)
    many = xenectl(env, "run", "--local", "-f", str(flow_file), "--executor", "process")
    assert many.returncode == 1
    assert "several pipelines: choose one of flow/dag, flow/broken" in many.stderr
    missing = xenectl(env, "run", "--local", "-f", str(flow_file), "--pipeline", "nope")
    assert missing.returncode == 1
    assert "no pipeline 'nope'" in missing.stderr
    assert not (Path(env["HOME"]) / ".xene" / "reports").exists()


def test_local_run_in_docker(
    tmp_path: Path, flow_file: Path, docker_engine: DockerEngine, busybox_image: str
) -> None:
    env = local_env(tmp_path, {"DOCKER_HOST": docker_engine.host})
    result = xenectl(
        env, "run", "--local", "-f", str(flow_file), "dag", "-p", "GREETING=from docker"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "(docker executor)" in result.stdout
    assert "[join/combine] from docker" in result.stdout
    report = read_report(env, "flow.dag.1")
    assert report["report"]["executor"] == "docker"
    assert report["status"]["phase"] == "Succeeded"


def test_interrupted_local_run_stops_its_steps_and_reports_cancelled(tmp_path: Path) -> None:
    path = tmp_path / "slow.yaml"
    path.write_text(
        "apiVersion: xene.dev/v1\nkind: Workflow\nmetadata: {name: slow}\nspec:\n"
        "  pipelines:\n    wait:\n      executor: process\n      tasks:\n"
        "        sleepy:\n          steps: [{name: nap, run: 'echo napping; sleep 60'}]\n"
        "        after:\n          dependencies: [sleepy]\n"
        "          steps: [{name: s, run: 'true'}]\n"
    )
    env = local_env(tmp_path)
    process = subprocess.Popen(
        [console_script("xenectl"), "run", "--local", "-f", str(path)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        for line in process.stdout:
            if "[sleepy/nap] napping" in line:
                break
        started = time.monotonic()
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 130, out + err
    assert time.monotonic() - started < 15
    report = read_report(env, "slow.wait.1")
    assert report["status"]["phase"] == "Cancelled"
    assert report["status"]["tasks"]["after"]["phase"] == "Cancelled"
