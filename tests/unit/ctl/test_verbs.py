"""The verbs beyond get: rerun, delete run/agent, cordon, suspend, logs options, completion,
and describe's related sections, against the in-memory API."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from click.shell_completion import ShellComplete

from tests.unit.ctl.fake_api import CREATED, FakeApiServer, pipeline_object, status
from xene.ctl.connection import ServerConnection
from xene.ctl.main import cli


def ago(seconds: float) -> str:
    return (datetime.now(UTC) - timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def run(number: int, phase: str = "Succeeded", **status_fields: object) -> dict:
    return {
        "apiVersion": "xene.dev/v1",
        "kind": "PipelineRun",
        "metadata": {
            "name": f"hello.build.{number}",
            "labels": {"xene.dev/pipeline": "hello.build", "xene.dev/workflow": "hello"},
            "creationTimestamp": CREATED,
        },
        "spec": {
            "workflow": "hello",
            "pipeline": "build",
            "number": number,
            "trigger": {"type": "manual"},
            "parameters": {"A": "1"},
        },
        "status": {"phase": phase, **status_fields},
    }


def agent(name: str, unschedulable: bool = False) -> dict:
    return {
        "apiVersion": "xene.dev/v1",
        "kind": "Agent",
        "metadata": {"name": name, "labels": {"os": "linux"}, "creationTimestamp": CREATED},
        "spec": {"capacity": 2, "unschedulable": unschedulable},
        "status": {"phase": "Ready", "pipelines": []},
    }


def trigger(name: str, kind: str = "cron") -> dict:
    spec = {
        "workflow": "hello",
        "name": name.split(".")[1],
        "type": kind,
        "pipelines": ["hello.build"],
    }
    if kind == "cron":
        spec["schedule"] = "*/5 * * * *"
    else:
        spec["secretEnv"] = "HELLO_SECRET"
    return {
        "apiVersion": "xene.dev/v1",
        "kind": "Trigger",
        "metadata": {"name": name, "creationTimestamp": CREATED},
        "spec": spec,
        "status": {},
    }


def test_rerun_names_the_run_it_repeats(xenectl, fake_api: FakeApiServer) -> None:
    fake_api.add("pipelineruns", run(1))
    fake_api.add("pipelineruns", run(2))
    result = xenectl("rerun", "hello/build")  # the latest run
    assert result.exit_code == 0, result.output
    assert result.stdout == "pipelinerun.xene.dev/hello.build.3 created (rerun of hello.build.2)\n"
    posted = [r for r in fake_api.requests if r.method == "POST"]
    assert [r.url.path for r in posted] == ["/api/v1/pipelineruns/hello.build.2/rerun"]
    explicit = xenectl("rerun", "hello.build.1")
    assert "rerun of hello.build.1" in explicit.stdout


def test_delete_runs_by_name_by_reference_and_by_selector(xenectl, fake_api: FakeApiServer) -> None:
    for number in (1, 2, 3):
        fake_api.add("pipelineruns", run(number))
    result = xenectl("delete", "run", "hello.build.1", "hello/build/2")
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        "pipelinerun.xene.dev/hello.build.1 deleted\npipelinerun.xene.dev/hello.build.2 deleted\n"
    )
    by_label = xenectl("delete", "runs", "-l", "xene.dev/pipeline=hello.build")
    assert by_label.stdout == "pipelinerun.xene.dev/hello.build.3 deleted\n"
    assert fake_api.objects["pipelineruns"] == {}
    none_left = xenectl("delete", "runs", "-l", "xene.dev/pipeline=hello.build")
    assert none_left.exit_code == 0 and none_left.stderr == "No resources found.\n"


def test_delete_of_a_pipeline_reference_without_a_number_is_refused(
    xenectl, fake_api: FakeApiServer
) -> None:
    fake_api.add("pipelineruns", run(1))
    result = xenectl("delete", "run", "hello/build")
    assert result.exit_code == 1
    assert "names a pipeline, not one of its runs" in result.stderr
    assert [r.method for r in fake_api.requests] == []


def test_a_refused_delete_shows_the_server_hint(xenectl, fake_api: FakeApiServer) -> None:
    fake_api.add("agents", agent("a1"))
    fake_api.fail_with = status(409, "Conflict", "agent a1 is Ready: run `xenectl cordon a1`")
    result = xenectl("delete", "agent", "a1")
    assert result.exit_code == 1
    assert result.stderr == (
        "error: cannot delete agent 'a1': agent a1 is Ready: run `xenectl cordon a1`\n"
    )


def test_cordon_and_uncordon_say_what_changed(xenectl, fake_api: FakeApiServer) -> None:
    fake_api.add("agents", agent("a1"))
    assert xenectl("cordon", "a1").stdout == "agent.xene.dev/a1 cordoned\n"
    assert xenectl("cordon", "a1").stdout == "agent.xene.dev/a1 already cordoned\n"
    listed = xenectl("get", "agents").stdout.splitlines()
    assert re.split(r"\s{2,}", listed[1])[1] == "Ready,SchedulingDisabled"
    assert xenectl("uncordon", "a1").stdout == "agent.xene.dev/a1 uncordoned\n"
    missing = xenectl("cordon", "nope")
    assert missing.exit_code == 1 and "agent 'nope' not found" in missing.stderr


def test_suspend_and_resume_accept_workflow_slash_trigger(xenectl, fake_api: FakeApiServer) -> None:
    fake_api.add("triggers", trigger("hello.nightly"))
    assert (
        xenectl("suspend", "hello/nightly").stdout == "trigger.xene.dev/hello.nightly suspended\n"
    )
    listed = xenectl("get", "triggers").stdout.splitlines()
    header = re.split(r"\s{2,}", listed[0])
    assert re.split(r"\s{2,}", listed[1])[header.index("SUSPEND")] == "true"
    assert xenectl("resume", "hello.nightly").stdout == "trigger.xene.dev/hello.nightly resumed\n"


def test_logs_options_reach_the_server(xenectl, fake_api: FakeApiServer) -> None:
    fake_api.add("pipelineruns", run(4))
    xenectl("logs", "hello/build", "--tail", "5", "--since", "1m30s", "--timestamps")
    logs = next(r for r in fake_api.requests if r.url.path.endswith("/logs"))
    assert dict(logs.url.params) == {"tailLines": "5", "sinceSeconds": "90", "timestamps": "true"}
    bad = xenectl("logs", "hello/build", "--since", "soon")
    assert bad.exit_code == 1
    assert "'soon' is not a duration" in bad.stderr


def test_describe_run_shows_waiting_reason_dag_order_and_events(
    xenectl, fake_api: FakeApiServer
) -> None:
    pending = run(5, "Pending", tasks={"test": {"phase": "Waiting"}, "checkout": {}})
    fake_api.add("pipelineruns", pending)
    lint = pipeline_object("hello.build", phase="NotScheduled", agent=None)
    lint["status"]["reason"] = "NoMatchingAgent"
    lint["status"]["message"] = "no Ready agent matches agentSelector {os: linux}"
    fake_api.add("pipelines", lint)
    fake_api.events["hello.build.5"] = [
        {"type": "RunStarted", "time": ago(30), "tasks": ["checkout", "test"]},
        {
            "type": "StepFailed",
            "time": ago(5),
            "task": "test",
            "step": "unit",
            "exitCode": 2,
            "message": "exit 2",
            "attempt": 2,
        },
    ]
    result = xenectl("describe", "run", "hello/build/5")
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert re.search(
        r"^  Waiting:\s+pipeline hello.build is NotScheduled \(NoMatchingAgent\): no Ready agent",
        text,
        re.M,
    )
    # `test` depends on `checkout` (pipeline spec): DAG order, not the order in the status.
    assert text.index("  checkout:") < text.index("  test:")
    assert re.search(r"^    Depends On:\s+checkout$", text, re.M)
    events = text[text.index("Events:") :].splitlines()
    assert re.split(r"\s{2,}", events[1].strip()) == ["AGE", "EVENT", "OBJECT", "MESSAGE"]
    assert re.split(r"\s{2,}", events[2].strip()) == [
        "30s",
        "RunStarted",
        "run",
        "tasks: checkout, test",
    ]
    assert re.split(r"\s{2,}", events[3].strip()) == [
        "5s",
        "StepFailed",
        "test/unit",
        "exit 2; exit 2; attempt 2",
    ]


def test_describe_pipeline_lists_recent_runs(xenectl, fake_api: FakeApiServer) -> None:
    fake_api.add("pipelines", pipeline_object("hello.build"))
    for number in range(1, 8):
        fake_api.add("pipelineruns", run(number, startedAt=ago(100 - number)))
    text = xenectl("describe", "pl", "hello.build").stdout
    section = text[text.index("Recent Runs") :].splitlines()
    assert section[0] == "Recent Runs (newest 5 of 7):"
    assert re.split(r"\s{2,}", section[1].strip())[:3] == ["RUN", "PHASE", "TRIGGER"]
    assert len(section) == 7


def test_describe_webhook_trigger_shows_urls_and_secret_state(
    xenectl, fake_api: FakeApiServer
) -> None:
    fake_api.add("triggers", trigger("hello.on-push", "webhook"))
    fake_api.webhooks["hello.on-push"] = {
        "urls": ["http://x/api/v1/webhooks/hello/build/on-push"],
        "secret": {"present": False, "problem": "no environment variable HELLO_SECRET"},
    }
    text = xenectl("describe", "trigger", "hello.on-push").stdout
    assert re.search(r"^URL:\s+http://x/api/v1/webhooks/hello/build/on-push$", text, re.M)
    assert re.search(r"^Secret Present:\s+NO: no environment variable HELLO_SECRET$", text, re.M)


def complete(fake_api: FakeApiServer, line: str) -> list[str]:
    """What the shell would offer for the last word of `line` (empty for a new word)."""
    words = line.split()
    incomplete = "" if line.endswith(" ") else words.pop()
    connection = ServerConnection(transport=fake_api.transport)
    completer = ShellComplete(cli, {"obj": connection}, "xenectl", "_XENECTL_COMPLETE")
    return [item.value for item in completer.get_completions(words[1:], incomplete)]


def test_completion_of_commands_kinds_names_and_formats(fake_api: FakeApiServer) -> None:
    fake_api.add("pipelines", pipeline_object("hello.build"))
    fake_api.add("pipelines", pipeline_object("hello.lint"))
    fake_api.add("agents", agent("a1"))
    assert "cordon" in complete(fake_api, "xenectl co")
    assert complete(fake_api, "xenectl get wf,pipel") == [
        "wf,pipelines",
        "wf,pipelineruns",
        "wf,pipeline",
        "wf,pipelinerun",
    ]
    assert complete(fake_api, "xenectl get pl ") == ["hello.build", "hello.lint"]
    assert complete(fake_api, "xenectl get pl hello.build ") == ["hello.lint"]
    assert complete(fake_api, "xenectl describe pl/hello.l") == ["pl/hello.lint"]
    assert complete(fake_api, "xenectl cordon ") == ["a1"]
    assert complete(fake_api, "xenectl run hello/l") == ["hello/lint"]
    assert complete(fake_api, "xenectl get pl -o j") == ["json", "jsonpath="]


def test_completion_is_silent_when_the_server_fails(fake_api: FakeApiServer) -> None:
    fake_api.fail_with = status(503, "Unavailable", "etcd is down")
    assert complete(fake_api, "xenectl get pl ") == []
    assert complete(fake_api, "xenectl get p")  # kinds need no server


def test_completion_scripts_for_each_shell(xenectl) -> None:
    for shell, marker in (
        ("bash", "complete -o nosort -F"),
        ("zsh", "#compdef xenectl"),
        ("fish", "complete --no-files --command xenectl"),
    ):
        result = xenectl("completion", shell)
        assert result.exit_code == 0, result.output
        assert marker in result.stdout
        assert "_XENECTL_COMPLETE" in result.stdout
    assert xenectl("completion", "tcsh").exit_code == 1
