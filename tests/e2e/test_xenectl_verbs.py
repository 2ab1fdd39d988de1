"""xenectl's kubectl-style verbs end to end: the installed console script against a real
xene-apiserver (real etcd) and real xene-agents running steps as host processes.

One etcd, apiserver and agent serve the whole module; each test uses its own workflow. Cron
ticks come every two seconds through the agents' test-only schedule override.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.e2e.helpers import REPO
from tests.fixtures.agents import AgentProcess, make_agent, wait_until
from tests.fixtures.etcd import EtcdServer
from tests.fixtures.servers import ApiServerProcess, console_script, make_apiserver

SECRET = "verbs-hook-secret"
EVERY_TWO_SECONDS = "* * * * * */2"


@dataclass
class Cluster:
    """The module's apiserver and agents, and xenectl pointed at them."""

    server: ApiServerProcess
    workdir: Path
    agents: list[AgentProcess] = field(default_factory=list)

    def xenectl(
        self, *args: str, input: str | None = None, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [console_script("xenectl"), *args],
            env={**self.server.env, **(env or {})},
            cwd=REPO,
            input=input,
            capture_output=True,
            text=True,
            timeout=90,
        )

    def agent(self, name: str, **options: Any) -> AgentProcess:
        agent = make_agent(self.workdir, self.server, name, **options)
        agent.env["XENE_AGENT_CRON_SCHEDULE_OVERRIDE"] = EVERY_TWO_SECONDS
        self.agents.append(agent.start())
        return agent

    def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.request(method, f"{self.server.url}/api/v1{path}", timeout=10, **kwargs)

    def get(self, plural: str, name: str) -> dict[str, Any]:
        response = self.api("GET", f"/{plural}/{name}")
        assert response.status_code == 200, response.text
        return dict(response.json())

    def apply(self, document: dict[str, Any]) -> None:
        result = self.xenectl("apply", "-f", "-", input=json.dumps(document))
        assert result.returncode == 0, result.stderr

    def placed(self, pipeline: str, agent: str | None = "worker", timeout: float = 20) -> None:
        def check() -> bool:
            status = self.get("pipelines", pipeline).get("status") or {}
            if agent is None:
                return bool(status.get("reason"))
            return status.get("phase") == "Scheduled" and status.get("agent") == agent

        wait_until(
            check, timeout, f"{pipeline} placed on {agent}", lambda: self.server.logs()[-3000:]
        )

    def runs(self, pipeline: str) -> list[dict[str, Any]]:
        response = self.api(
            "GET", "/pipelineruns", params={"labelSelector": f"xene.dev/pipeline={pipeline}"}
        )
        return list(response.json()["items"])


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    workdir = tmp_path_factory.mktemp("verbs")
    etcd = EtcdServer(workdir / "etcd")
    etcd.start()
    server = make_apiserver(workdir, etcd.endpoint, "--agent-lease-ttl-seconds", "2")
    server.env["HOOK_SECRET"] = SECRET
    cluster = Cluster(server, workdir)
    try:
        server.start()
        cluster.agent("worker", labels={"os": "linux"}, capacity=100)
        wait_until(
            lambda: (
                (cluster.get("agents", "worker").get("status") or {}).get("phase") == "Ready"
                if cluster.api("GET", "/agents/worker").status_code == 200
                else False
            ),
            20,
            "agent worker Ready",
        )
        yield cluster
    finally:
        for agent in cluster.agents:
            agent.kill()
            if os.environ.get("XENE_TEST_SHOW_LOGS"):
                print(agent.logs())
        if server.process is not None and server.process.poll() is None:
            try:
                server.stop()
            except subprocess.TimeoutExpired:
                pass
        if os.environ.get("XENE_TEST_SHOW_LOGS"):
            print(server.logs())
        etcd.stop()


def workflow(
    name: str,
    pipelines: dict[str, dict[str, Any]],
    triggers: list[dict[str, Any]] | None = None,
    labels: dict[str, str] | None = None,
) -> dict[str, Any]:
    return {
        "apiVersion": "xene.dev/v1",
        "kind": "Workflow",
        "metadata": {"name": name, "labels": labels or {}},
        "spec": {"triggers": triggers or [], "pipelines": pipelines},
    }


def pipeline(*steps: str, selector: dict[str, str] | None = None, **extra: Any) -> dict[str, Any]:
    """A process-executor pipeline for agent `worker` (unless `selector` says otherwise): task
    `a` runs `steps`, task `b` depends on it."""
    return {
        "executor": "process",
        "agentSelector": selector or {"os": "linux"},
        "tasks": {
            "b": {"dependencies": ["a"], "steps": [{"name": "after", "run": "echo after"}]},
            "a": {"steps": [{"name": f"s{i}", "run": run} for i, run in enumerate(steps)]},
        },
        **extra,
    }


def finished(cluster: Cluster, run: str, timeout: float = 30) -> dict[str, Any]:
    return wait_until(
        lambda: (lambda r: r if r["status"].get("phase") in ("Succeeded", "Failed") else None)(
            cluster.get("pipelineruns", run)
        ),
        timeout,
        f"run {run} to finish",
    )


# ---- selectors and output formats ---------------------------------------------------------------


def test_selectors_and_output_formats_against_the_server(cluster: Cluster) -> None:
    cluster.apply(workflow("sel-a", {"p": pipeline("true")}, labels={"team": "a", "tier": "2"}))
    cluster.apply(workflow("sel-b", {"p": pipeline("true")}, labels={"team": "b", "tier": "10"}))
    cluster.apply(workflow("sel-c", {"p": pipeline("true")}, labels={"team": "c"}))

    def names(*selector: str) -> list[str]:
        result = cluster.xenectl("get", "wf", "-l", ",".join(selector), "-o", "name")
        assert result.returncode == 0, result.stderr
        return [line.rsplit("/", 1)[1] for line in result.stdout.split()]

    assert names("team!=a", "team") == ["sel-b", "sel-c"]  # not `a!` as a key
    assert names("team in (a, c)") == ["sel-a", "sel-c"]
    assert names("team notin (a)", "tier") == ["sel-b"]
    assert names("!tier", "team") == ["sel-c"]
    assert names("team==b") == ["sel-b"]
    assert "sel-a" not in names("team=a", "tier=3")
    # Derived objects carry the workflow's labels: the server filters them the same way.
    pipelines = cluster.xenectl("get", "pl", "-l", "team in (b),xene.dev/workflow", "-o", "name")
    assert pipelines.stdout == "pipeline.xene.dev/sel-b.p\n"

    bad = cluster.xenectl("get", "wf", "-l", "team in a")
    assert bad.returncode == 1 and "expected '(' after 'in'" in bad.stderr
    rest = cluster.api("GET", "/workflows", params={"labelSelector": "team in a"})
    assert rest.status_code == 400
    assert "expected '(' after 'in'" in rest.json()["message"]

    template = cluster.xenectl(
        "get", "wf", "-l", "team", "-o", "jsonpath={.items[*].metadata.labels.team}"
    )
    assert template.stdout == "a b c"
    columns = cluster.xenectl(
        "get",
        "wf",
        "-l",
        "tier",
        "--sort-by",
        ".metadata.name",
        "--no-headers",
        "-o",
        "custom-columns=NAME:.metadata.name,TIER:.metadata.labels.tier",
    )
    assert [line.split() for line in columns.stdout.splitlines()] == [
        ["sel-a", "2"],
        ["sel-b", "10"],
    ]
    labels = cluster.xenectl("get", "wf", "sel-c", "--show-labels")
    assert labels.stdout.splitlines()[1].split()[-1] == "team=c"
    both = cluster.xenectl("get", "wf,pl", "-l", "team=a")
    assert "workflow.xene.dev/sel-a" in both.stdout and "pipeline.xene.dev/sel-a.p" in both.stdout


def test_a_listing_applies_back_unchanged_and_an_edited_derived_object_is_refused(
    cluster: Cluster,
) -> None:
    cluster.apply(workflow("trip", {"p": pipeline("echo one")}, labels={"trip": "yes"}))
    cluster.placed("trip.p")
    saved = cluster.xenectl("get", "wf,pl,tr", "-l", "trip", "-o", "yaml")
    assert saved.returncode == 0, saved.stderr
    again = cluster.xenectl("apply", "-f", "-", input=saved.stdout)
    assert again.returncode == 0, again.stderr
    assert again.stdout == "workflow.xene.dev/trip unchanged\npipeline.xene.dev/trip.p unchanged\n"
    before = cluster.get("workflows", "trip")["metadata"]["resourceVersion"]

    listing = yaml.safe_load(saved.stdout)
    listing["items"][1]["spec"]["tasks"]["a"]["steps"][0]["run"] = "echo edited"
    edited = cluster.xenectl("apply", "-f", "-", input=yaml.safe_dump(listing))
    assert edited.returncode == 1
    assert "Pipeline objects are read-only" in edited.stderr
    assert cluster.get("workflows", "trip")["metadata"]["resourceVersion"] == before
    steps = cluster.get("pipelines", "trip.p")["spec"]["tasks"]["a"]["steps"]
    assert steps[0]["run"] == "echo one"


# ---- runs: exit codes, rerun, delete, logs options, watch ---------------------------------------


def test_run_wait_exit_codes_and_rerun_with_the_same_parameters(cluster: Cluster) -> None:
    cluster.apply(
        workflow(
            "codes",
            {"ok": pipeline('echo "value=$GREETING"'), "bad": pipeline("echo broken; exit 4")},
        )
    )
    cluster.placed("codes.ok")
    cluster.placed("codes.bad")
    good = cluster.xenectl("run", "codes/ok", "-p", "GREETING=hi", "--wait")
    assert good.returncode == 0, good.stdout + good.stderr
    failed = cluster.xenectl("run", "codes/bad", "--wait")
    assert failed.returncode == 3, failed.stdout + failed.stderr
    assert "run codes.bad.1 Failed" in failed.stdout
    unreachable = cluster.xenectl("get", "wf", env={"XENE_SERVER": "http://127.0.0.1:9"})
    assert unreachable.returncode == 2
    usage = cluster.xenectl("run", "codes/ok", "-p", "1BAD=x")
    assert usage.returncode == 1

    rerun = cluster.xenectl("rerun", "codes/ok", "--wait")
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    second = cluster.get("pipelineruns", "codes.ok.2")
    assert second["spec"]["parameters"] == {"GREETING": "hi"}
    assert second["spec"]["trigger"]["rerunOf"] == "codes.ok.1"
    logs = cluster.xenectl("logs", "codes/ok", "--run", "2", "--task", "a", "--step", "s0")
    assert logs.stdout == "value=hi\n"
    failed_again = cluster.xenectl("rerun", "codes.bad.1", "--wait")
    assert failed_again.returncode == 3
    missing = cluster.xenectl("rerun", "codes.ok.99")
    assert missing.returncode == 1 and "codes.ok.99" in missing.stderr
    assert len(cluster.runs("codes.ok")) == 2


def test_rerun_of_a_webhook_run_carries_its_payload(cluster: Cluster) -> None:
    hook = {"name": "push", "type": "webhook", "secretEnv": "HOOK_SECRET"}
    cluster.apply(
        workflow(
            "hooked", {"p": {**pipeline('echo "ref=$XENE_DELIVERY"'), "triggers": ["push"]}}, [hook]
        )
    )
    cluster.placed("hooked.p")
    body = json.dumps({"ref": "refs/heads/main", "n": 1}).encode()
    signature = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    delivered = httpx.post(
        f"{cluster.server.url}/api/v1/webhooks/hooked/p/push",
        content=body,
        headers={"X-Xene-Signature-256": signature, "X-Xene-Delivery": "d-1"},
        timeout=10,
    )
    assert delivered.status_code == 202, delivered.text
    first = finished(cluster, "hooked.p.1")
    result = cluster.xenectl("rerun", "hooked.p.1")
    assert result.returncode == 0, result.stderr
    second = finished(cluster, "hooked.p.2")
    assert second["spec"]["trigger"]["payload"] == first["spec"]["trigger"]["payload"]
    assert json.loads(second["spec"]["trigger"]["payload"]) == {"ref": "refs/heads/main", "n": 1}
    assert second["spec"]["trigger"]["type"] == "webhook"
    assert second["spec"]["env"] == first["spec"]["env"]
    logs = cluster.xenectl("logs", "hooked.p.2", "--task", "a", "--step", "s0")
    assert logs.stdout == "ref=d-1\n"

    described = cluster.xenectl("describe", "trigger", "hooked.push")
    assert described.returncode == 0, described.stderr
    assert f"{cluster.server.url}/api/v1/webhooks/hooked/p/push" in described.stdout
    assert re.search(r"^Secret Present:\s+yes", described.stdout, re.M)
    cluster.apply(
        workflow(
            "unhooked",
            {"p": {**pipeline("true"), "triggers": ["push"]}},
            [{**hook, "secretEnv": "NOT_SET_ANYWHERE"}],
        )
    )
    lacking = cluster.xenectl("describe", "trigger", "unhooked.push")
    assert "NO: webhook trigger unhooked.push: the apiserver has no environment variable" in (
        lacking.stdout
    )


def test_delete_run_removes_a_finished_run_and_refuses_a_running_one(cluster: Cluster) -> None:
    cluster.apply(workflow("del", {"quick": pipeline("echo hi"), "slow": pipeline("sleep 30")}))
    cluster.placed("del.quick")
    cluster.placed("del.slow")
    assert cluster.xenectl("run", "del/quick", "--wait").returncode == 0
    cluster.xenectl("run", "del/slow")
    wait_until(
        lambda: cluster.get("pipelineruns", "del.slow.1")["status"].get("phase") == "Running",
        20,
        "del.slow.1 running",
    )
    refused = cluster.xenectl("delete", "run", "del.slow.1")
    assert refused.returncode == 1
    assert "cancel it first (xenectl cancel del.slow.1)" in refused.stderr
    assert cluster.get("pipelineruns", "del.slow.1")["status"]["phase"] == "Running"

    deleted = cluster.xenectl("delete", "run", "del/quick/1")
    assert deleted.returncode == 0, deleted.stderr
    assert deleted.stdout == "pipelinerun.xene.dev/del.quick.1 deleted\n"
    assert cluster.api("GET", "/pipelineruns/del.quick.1").status_code == 404
    assert cluster.api("GET", "/pipelineruns/del.quick.1/logs").status_code == 404
    gone = cluster.xenectl("delete", "run", "del.quick.1")
    assert gone.returncode == 1 and "not found" in gone.stderr
    assert cluster.xenectl("cancel", "del.slow.1").returncode == 0
    wait_until(
        lambda: cluster.get("pipelineruns", "del.slow.1")["status"].get("phase") == "Cancelled",
        20,
        "del.slow.1 cancelled",
    )
    assert cluster.xenectl("delete", "run", "del.slow.1").returncode == 0


def test_logs_tail_since_timestamps_and_runs_watch(cluster: Cluster) -> None:
    cluster.apply(workflow("lines", {"p": pipeline("for i in 1 2 3 4 5; do echo line $i; done")}))
    cluster.placed("lines.p")
    watcher = subprocess.Popen(
        [console_script("xenectl"), "runs", "-w", "--pipeline", "lines/p"],
        env=cluster.server.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert watcher.stderr is not None
        assert watcher.stderr.readline() == "No runs found.\n"
        assert cluster.xenectl("run", "lines/p", "--wait").returncode == 0
        time.sleep(1.0)
    finally:
        watcher.send_signal(signal.SIGINT)
        out, _ = watcher.communicate(timeout=10)
    phases = [line.split()[3] for line in out.splitlines()[1:]]
    assert phases[0] == "Pending" and phases[-1] == "Succeeded" and "Running" in phases

    base = ("logs", "lines/p", "--task", "a", "--step", "s0")
    assert cluster.xenectl(*base, "--tail", "2").stdout == "line 4\nline 5\n"
    assert cluster.xenectl(*base, "--since", "1h").stdout.count("line") == 5
    time.sleep(2.0)
    assert cluster.xenectl(*base, "--since", "1s").stdout == ""
    stamped = cluster.xenectl(*base, "--timestamps", "--tail", "1").stdout
    stamp, _, text = stamped.strip().partition(" ")
    assert text == "line 5" and stamp.endswith("Z") and stamp[:2] == "20"
    followed = cluster.xenectl(*base, "-f", "--tail", "1")
    assert followed.returncode == 0 and followed.stdout == "line 5\n"
    bad = cluster.xenectl(*base, "--tail", "-1")
    assert bad.returncode == 1


# ---- a run that cannot start ---------------------------------------------------------------------


def test_a_run_whose_pipeline_is_not_scheduled_says_why(cluster: Cluster) -> None:
    cluster.apply(workflow("nowhere", {"p": pipeline("true", selector={"os": "plan9"})}))
    cluster.placed("nowhere.p", agent=None)
    created = cluster.xenectl("run", "nowhere/p")
    assert created.returncode == 0, created.stderr
    why = "pipeline nowhere.p is NotScheduled (NoMatchingAgent): no Ready agent matches"

    started = time.monotonic()
    follow = cluster.xenectl("logs", "nowhere/p", "-f")
    assert follow.returncode == 1
    assert f"error: run nowhere.p.1 is Pending and cannot start: {why}" in follow.stderr
    assert time.monotonic() - started < 15

    described = cluster.xenectl("describe", "run", "nowhere.p.1")
    assert re.search(rf"^  Waiting:\s+{re.escape(why)}", described.stdout, re.M)

    waiting = subprocess.Popen(
        [console_script("xenectl"), "run", "nowhere/p", "--wait"],
        env=cluster.server.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert waiting.stdout is not None
        first = waiting.stdout.readline()
    finally:
        waiting.send_signal(signal.SIGINT)
        _, err = waiting.communicate(timeout=10)
    assert first.startswith(f"run nowhere.p.2: Pending: waiting: {why}")
    assert waiting.returncode == 130
    assert "the run goes on" in err


# ---- describe ------------------------------------------------------------------------------------


def test_describe_run_shows_events_and_tasks_in_dag_order_and_pipeline_its_runs(
    cluster: Cluster,
) -> None:
    cluster.apply(workflow("desc", {"p": pipeline("echo hi")}))
    cluster.placed("desc.p")
    for _ in range(2):
        assert cluster.xenectl("run", "desc/p", "--wait").returncode == 0
    text = cluster.xenectl("describe", "run", "desc/p/2").stdout
    # Task `b` is written first but depends on `a`.
    assert text.index("\n  a:\n") < text.index("\n  b:\n")
    events = [line.split()[1:3] for line in text[text.index("Events:") :].splitlines()[2:]]
    assert events[0] == ["RunStarted", "run"]
    assert ["StepSucceeded", "a/s0"] in events
    assert events[-1] == ["RunSucceeded", "run"]
    pipeline_view = cluster.xenectl("describe", "pl", "desc.p").stdout
    recent = pipeline_view[pipeline_view.index("Recent Runs:") :].splitlines()
    assert [line.split()[:2] for line in recent[2:4]] == [["2", "Succeeded"], ["1", "Succeeded"]]


# ---- agents: cordon, delete ----------------------------------------------------------------------


def test_cordon_keeps_new_pipelines_off_and_survives_a_reconnect(cluster: Cluster) -> None:
    spare = cluster.agent("spare", labels={"pool": "spare"})
    wait_until(
        lambda: (
            cluster.api("GET", "/agents/spare").status_code == 200
            and cluster.get("agents", "spare")["status"]["phase"] == "Ready"
        ),
        20,
        "agent spare Ready",
    )
    cluster.apply(workflow("before", {"p": pipeline("true", selector={"pool": "spare"})}))
    cluster.placed("before.p", "spare")
    cordoned = cluster.xenectl("cordon", "spare")
    assert cordoned.stdout == "agent.xene.dev/spare cordoned\n"
    listed = cluster.xenectl("get", "agents", "spare")
    assert listed.stdout.splitlines()[1].split()[1] == "Ready,SchedulingDisabled"

    cluster.apply(workflow("after", {"p": pipeline("true", selector={"pool": "spare"})}))
    cluster.placed("after.p", agent=None)
    status = cluster.get("pipelines", "after.p")["status"]
    assert status["reason"] == "AgentsCordoned"
    assert cluster.get("pipelines", "before.p")["status"]["agent"] == "spare"  # it stays
    assert cluster.xenectl("run", "before/p", "--wait").returncode == 0

    # The cordon is the operator's: an agent that reconnects does not lift it.
    spare.stop()
    spare.start()
    wait_until(
        lambda: (
            cluster.get("agents", "spare")["status"]["phase"] == "Ready"
            and cluster.get("agents", "spare")["status"].get("connectedAt")
            != status.get("connectedAt")
        ),
        20,
        "spare to reconnect",
    )
    time.sleep(1.0)
    assert cluster.get("agents", "spare")["spec"]["unschedulable"] is True
    assert cluster.get("pipelines", "after.p")["status"]["phase"] == "NotScheduled"

    assert cluster.xenectl("uncordon", "spare").stdout == "agent.xene.dev/spare uncordoned\n"
    cluster.placed("after.p", "spare")
    missing = cluster.xenectl("cordon", "nobody")
    assert missing.returncode == 1 and "agent 'nobody' not found" in missing.stderr


def test_delete_agent_refuses_a_ready_one_and_removes_a_not_ready_one(cluster: Cluster) -> None:
    doomed = cluster.agent("doomed")
    wait_until(
        lambda: (
            cluster.api("GET", "/agents/doomed").status_code == 200
            and cluster.get("agents", "doomed")["status"]["phase"] == "Ready"
        ),
        20,
        "agent doomed Ready",
    )
    refused = cluster.xenectl("delete", "agent", "doomed")
    assert refused.returncode == 1
    assert "agent doomed is Ready" in refused.stderr and "xenectl cordon doomed" in refused.stderr
    assert cluster.api("GET", "/agents/doomed").status_code == 200
    rest = cluster.api("DELETE", "/agents/doomed")
    assert rest.status_code == 409

    doomed.stop()
    wait_until(
        lambda: cluster.get("agents", "doomed")["status"]["phase"] == "NotReady", 20, "NotReady"
    )
    deleted = cluster.xenectl("delete", "agent", "doomed")
    assert deleted.returncode == 0, deleted.stderr
    assert deleted.stdout == "agent.xene.dev/doomed deleted\n"
    assert cluster.api("GET", "/agents/doomed").status_code == 404
    assert "doomed" not in cluster.xenectl("get", "agents", "-o", "name").stdout


# ---- triggers: suspend, resume -------------------------------------------------------------------


def test_suspend_reaches_the_agent_and_survives_a_reapply(cluster: Cluster) -> None:
    tick = {"name": "tick", "type": "cron", "schedule": "* * * * *"}
    document = workflow("ticking", {"p": {**pipeline("true"), "triggers": ["tick"]}}, [tick])
    cluster.apply(document)
    cluster.placed("ticking.p")
    wait_until(lambda: len(cluster.runs("ticking.p")) >= 1, 20, "a first cron run")

    suspended = cluster.xenectl("suspend", "ticking/tick")
    assert suspended.stdout == "trigger.xene.dev/ticking.tick suspended\n"
    wait_until(
        lambda: any(
            t["suspend"] for t in cluster.get("pipelines", "ticking.p")["spec"]["triggers"]
        ),
        20,
        "the pipeline to carry the suspend",
    )
    wait_until(
        lambda: "trigger tick of ticking.p is suspended" in cluster.agents[0].logs(),
        20,
        "the agent to stop the cron",
    )
    time.sleep(1.0)  # a tick in flight when the agent restarted the pipeline may still land
    count = len(cluster.runs("ticking.p"))
    listed = cluster.xenectl("get", "triggers", "ticking.tick")
    header, row = (re.split(r"\s{2,}", line) for line in listed.stdout.splitlines())
    assert row[header.index("SUSPEND")] == "true"

    # A re-apply that changes something else keeps the suspend.
    document["spec"]["pipelines"]["p"]["tasks"]["a"]["steps"][0]["run"] = "echo changed"
    cluster.apply(document)
    time.sleep(5.0)  # two ticks' worth
    assert len(cluster.runs("ticking.p")) == count
    assert cluster.get("triggers", "ticking.tick")["spec"]["suspend"] is True

    resumed = cluster.xenectl("resume", "ticking.tick")
    assert resumed.stdout == "trigger.xene.dev/ticking.tick resumed\n"
    wait_until(lambda: len(cluster.runs("ticking.p")) > count, 20, "cron runs again")

    # The workflow itself says suspend: true, then false: it wins each time.
    cluster.xenectl("suspend", "ticking.tick")
    document["spec"]["triggers"][0]["suspend"] = True
    cluster.apply(document)
    document["spec"]["triggers"][0]["suspend"] = False
    cluster.apply(document)
    wait_until(
        lambda: (
            cluster.get("triggers", "ticking.tick")["spec"]["suspend"] is False
            and "suspendOverride" not in cluster.get("triggers", "ticking.tick")["status"]
        ),
        20,
        "the workflow's own suspend to win",
    )
    missing = cluster.xenectl("suspend", "ticking.nope")
    assert missing.returncode == 1 and "not found" in missing.stderr


def test_a_suspended_webhook_starts_no_run(cluster: Cluster) -> None:
    hook = {"name": "push", "type": "webhook", "secretEnv": "HOOK_SECRET"}
    cluster.apply(workflow("quiet", {"p": {**pipeline("true"), "triggers": ["push"]}}, [hook]))
    cluster.placed("quiet.p")
    assert cluster.xenectl("suspend", "quiet.push").returncode == 0
    body = b"{}"
    signature = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    response = httpx.post(
        f"{cluster.server.url}/api/v1/webhooks/quiet/p/push",
        content=body,
        headers={"X-Xene-Signature-256": signature},
        timeout=10,
    )
    assert response.status_code == 200
    assert "suspended" in response.json()["message"]
    assert cluster.runs("quiet.p") == []


# ---- completion ----------------------------------------------------------------------------------


def bash_complete(cluster: Cluster, line: str, env: dict[str, str] | None = None) -> list[str]:
    """Source `xenectl completion bash` in a real bash and ask it to complete `line`."""
    xenectl = console_script("xenectl")
    script = (
        f'source <("{xenectl}" completion bash)\n'
        f"COMP_LINE='{line}'\n"
        'read -ra COMP_WORDS <<< "$COMP_LINE"\n'
        '[[ "$COMP_LINE" == *" " ]] && COMP_WORDS+=("")\n'
        "COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))\n"
        f'_xenectl_completion "{xenectl}"\n'
        'printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    result = subprocess.run(
        ["bash", "-c", script],
        env={**cluster.server.env, **(env or {})},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.stderr == ""
    return [line for line in result.stdout.splitlines() if line]


def test_bash_completion_of_kinds_and_names_from_the_server(cluster: Cluster) -> None:
    cluster.apply(workflow("compl", {"p": pipeline("true")}))
    assert "pipelines" in bash_complete(cluster, "xenectl get pipel")
    assert "compl.p" in bash_complete(cluster, "xenectl get pl ")
    assert bash_complete(cluster, "xenectl describe wf comp") == ["compl"]
    assert "worker" in bash_complete(cluster, "xenectl cordon ")
    started = time.monotonic()
    silent = bash_complete(cluster, "xenectl get pl ", env={"XENE_SERVER": "http://127.0.0.1:9"})
    assert silent == []
    assert time.monotonic() - started < 10


def shell(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        pytest.skip(f"{name} is not installed (scripts/test.sh installs it)")
    return found


def test_zsh_completion_script_completes_names_from_the_server(cluster: Cluster) -> None:
    cluster.apply(workflow("zcompl", {"p": pipeline("true")}))
    xenectl = console_script("xenectl")
    # The script's own function runs; compadd and _describe (which need an interactive line
    # editor) are replaced by ones that print what they were given.
    script = (
        "autoload -U compinit && compinit -u\n"
        f'source <("{xenectl}" completion zsh)\n'
        'compadd() { print -l -- "${(@P)${@[-1]}}" }\n'
        '_describe() { print -l -- "${(@P)${@[-2]}}" }\n'
        f'path=("{Path(xenectl).parent}" $path)\n'
        "words=(xenectl get pl zcompl); CURRENT=4\n"
        "[[ ${_comps[xenectl]} == _xenectl_completion ]] || exit 3\n"
        "_xenectl_completion\n"
    )
    result = subprocess.run(
        [shell("zsh"), "-f", "-c", script],
        env={**cluster.server.env, "HOME": str(cluster.workdir)},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["zcompl.p"]


def test_fish_completion_script_completes_kinds_and_names(cluster: Cluster) -> None:
    cluster.apply(workflow("fcompl", {"p": pipeline("true")}))
    xenectl = console_script("xenectl")
    script = (
        f'set -x PATH "{Path(xenectl).parent}" $PATH; xenectl completion fish | source; '
        'complete -C "xenectl get pipel"; complete -C "xenectl describe pl fcompl"'
    )
    result = subprocess.run(
        [shell("fish"), "--no-config", "-c", script],
        env={**cluster.server.env, "HOME": str(cluster.workdir)},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    offered = [line.split("\t")[0] for line in result.stdout.splitlines()]
    assert {"pipelines", "pipeline", "fcompl.p"} <= set(offered)
