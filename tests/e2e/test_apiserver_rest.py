"""The REST API as a user meets it: a real xene-apiserver process on a real etcd."""

from __future__ import annotations

import json
import threading

import httpx
import pytest

from tests.e2e.helpers import eventually, load_example, names, one_task_pipeline, workflow


@pytest.fixture
def client(apiserver):
    with httpx.Client(base_url=apiserver.url, timeout=10) as http:
        yield http


def test_apply_creates_then_reports_unchanged_then_configured(client):
    hello = load_example("hello.yaml")
    first = client.post("/api/v1/apply", json=hello)
    assert first.status_code == 201, first.text
    assert first.json()["action"] == "created"
    created = first.json()["object"]
    assert created["metadata"]["generation"] == 1
    assert created["metadata"]["uid"]

    again = client.post("/api/v1/apply", json=hello)
    assert again.status_code == 200
    assert again.json()["action"] == "unchanged"
    assert (
        again.json()["object"]["metadata"]["resourceVersion"]
        == (created["metadata"]["resourceVersion"])
    )

    hello["metadata"]["labels"] = {"team": "infra"}
    changed = client.post("/api/v1/apply", json=hello)
    assert changed.json()["action"] == "configured"
    stored = client.get("/api/v1/workflows/hello").json()
    assert stored["metadata"]["labels"] == {"team": "infra"}
    assert stored["metadata"]["uid"] == created["metadata"]["uid"]


def test_apply_accepts_yaml_bodies(client):
    text = (
        "apiVersion: xene.dev/v1\nkind: Workflow\nmetadata: {name: yamlwf}\n"
        "spec:\n  pipelines:\n    p:\n      tasks:\n        t:\n          image: busybox:latest\n"
        "          steps: [{name: s, run: 'echo hi'}]\n"
    )
    response = client.post(
        "/api/v1/apply", content=text, headers={"content-type": "application/yaml"}
    )
    assert response.status_code == 201, response.text
    assert names(client, "workflows") == ["yamlwf"]


def test_derived_pipelines_and_triggers_follow_edits_and_delete(client):
    hello = load_example("hello.yaml")
    client.post("/api/v1/apply", json=hello).raise_for_status()
    pipeline_names = [f"hello.{name}" for name in sorted(hello["spec"]["pipelines"])]
    trigger_names = sorted(f"hello.{t['name']}" for t in hello["spec"]["triggers"])
    eventually(lambda: names(client, "pipelines") == pipeline_names)
    eventually(lambda: names(client, "triggers") == trigger_names)
    pipeline = client.get(f"/api/v1/pipelines/{pipeline_names[0]}").json()
    assert pipeline["metadata"]["ownerReferences"][0]["name"] == "hello"
    assert pipeline["metadata"]["labels"]["xene.dev/workflow"] == "hello"

    # Add a pipeline, drop a trigger, change a task: every derived object follows.
    hello["spec"]["pipelines"]["deploy"] = one_task_pipeline("echo deploy")
    dropped = hello["spec"]["triggers"].pop()
    for spec in hello["spec"]["pipelines"].values():
        spec["triggers"] = [t for t in spec.get("triggers", []) if t != dropped["name"]]
    first_pipeline = sorted(hello["spec"]["pipelines"])[0]
    first_task = sorted(hello["spec"]["pipelines"][first_pipeline]["tasks"])[0]
    hello["spec"]["pipelines"][first_pipeline]["tasks"][first_task]["steps"][0]["run"] = "echo v2"
    assert client.post("/api/v1/apply", json=hello).json()["action"] == "configured"

    expected = sorted([*pipeline_names, "hello.deploy"])
    eventually(lambda: names(client, "pipelines") == expected)
    eventually(lambda: f"hello.{dropped['name']}" not in names(client, "triggers"))

    def task_updated() -> bool:
        derived = client.get(f"/api/v1/pipelines/hello.{first_pipeline}").json()
        step = derived["spec"]["tasks"][first_task]["steps"][0]
        return step["run"] == "echo v2" and derived["metadata"]["generation"] == 2

    eventually(task_updated)
    eventually(
        lambda: (
            client.get("/api/v1/workflows/hello").json()["status"].get("observedGeneration") == 2
        )
    )

    deleted = client.delete("/api/v1/workflows/hello")
    assert deleted.status_code == 200
    eventually(lambda: names(client, "pipelines") == [] and names(client, "triggers") == [])
    assert client.get("/api/v1/workflows/hello").status_code == 404


def test_deleted_derived_object_is_restored(client):
    client.post("/api/v1/apply", json=workflow("wf", {"p": one_task_pipeline()})).raise_for_status()
    eventually(lambda: names(client, "pipelines") == ["wf.p"])
    # Derived objects are read-only through the API...
    refused = client.delete("/api/v1/pipelines/wf.p")
    assert refused.status_code == 405
    assert refused.json()["reason"] == "MethodNotAllowed"
    assert names(client, "pipelines") == ["wf.p"]


BAD_INPUTS = [
    pytest.param(b"kind: Workflow\nmetadata: {name: [unclosed\n", 400, "line", id="malformed-yaml"),
    pytest.param(b'{"kind": "Workflow",', 400, "", id="malformed-json"),
    pytest.param(
        json.dumps(workflow("typed", {"p": {"tasks": {"t": {"image": "x", "steps": "echo"}}}})),
        422,
        "spec.pipelines.p.tasks.t.steps",
        id="wrong-type",
    ),
    pytest.param(
        json.dumps({**workflow("k", {"p": one_task_pipeline()}), "kind": "Gizmo"}),
        422,
        "Gizmo",
        id="unknown-kind",
    ),
    pytest.param(
        json.dumps(
            workflow(
                "cyc",
                {
                    "p": {
                        "tasks": {
                            "a": {
                                "image": "x",
                                "dependencies": ["b"],
                                "steps": [{"name": "s", "run": "true"}],
                            },
                            "b": {
                                "image": "x",
                                "dependencies": ["a"],
                                "steps": [{"name": "s", "run": "true"}],
                            },
                        }
                    }
                },
            )
        ),
        422,
        "cycle",
        id="cycle",
    ),
    pytest.param(
        json.dumps(
            workflow(
                "dep",
                {
                    "p": {
                        "tasks": {
                            "test": {
                                "image": "x",
                                "dependencies": ["chekout"],
                                "steps": [{"name": "s", "run": "true"}],
                            },
                            "checkout": {"image": "x", "steps": [{"name": "s", "run": "true"}]},
                        }
                    }
                },
            )
        ),
        422,
        "spec.pipelines.p.tasks.test.dependencies[0]",
        id="unknown-dependency",
    ),
    pytest.param(
        json.dumps(workflow("Bad_Name", {"p": one_task_pipeline()})),
        422,
        "metadata.name",
        id="bad-name",
    ),
    pytest.param(
        json.dumps(
            workflow(
                "cron",
                {"p": one_task_pipeline(triggers=["t"])},
                [{"name": "t", "type": "cron", "schedule": "every day"}],
            )
        ),
        422,
        "schedule",
        id="bad-cron",
    ),
    pytest.param(b"", 400, "empty", id="empty-body"),
    pytest.param(b"- a\n- b\n", 422, "", id="not-a-mapping"),
]


@pytest.mark.parametrize(("body", "code", "mentions"), BAD_INPUTS)
def test_bad_input_is_a_4xx_naming_the_problem_and_writes_nothing(client, body, code, mentions):
    response = client.post(
        "/api/v1/apply", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code in (code, 400, 422) and response.status_code == code, (
        response.status_code,
        response.text,
    )
    status = response.json()
    assert status["kind"] == "Status"
    assert mentions in json.dumps(status)
    assert names(client, "workflows") == []


def test_oversized_body_is_413_and_writes_nothing(client):
    big = workflow("big", {"p": one_task_pipeline("echo " + "x" * (1 << 20))})
    response = client.post("/api/v1/apply", json=big)
    assert response.status_code == 413
    assert "limit" in response.json()["message"]
    assert names(client, "workflows") == []


def test_unknown_kind_and_object_are_404_status(client):
    response = client.get("/api/v1/gizmos")
    assert response.status_code == 404
    assert "unknown kind 'gizmos'" in response.json()["message"]
    missing = client.get("/api/v1/workflows/nope")
    assert missing.status_code == 404
    assert missing.json()["reason"] == "NotFound"


def test_compare_and_swap_lets_exactly_one_writer_win(client):
    client.post(
        "/api/v1/apply", json=workflow("cas", {"p": one_task_pipeline()})
    ).raise_for_status()
    # The workflow controller writes status once after apply; take the version after that write.
    eventually(
        lambda: client.get("/api/v1/workflows/cas").json()["status"].get("observedGeneration") == 1
    )
    stored = client.get("/api/v1/workflows/cas").json()
    version = stored["metadata"]["resourceVersion"]
    results: list[int] = []

    def write(label: str) -> None:
        doc = workflow("cas", {"p": one_task_pipeline()})
        doc["metadata"]["labels"] = {"writer": label}
        doc["metadata"]["resourceVersion"] = version
        with httpx.Client(base_url=str(client.base_url), timeout=10) as own:
            results.append(own.put("/api/v1/workflows/cas", json=doc).status_code)

    threads = [threading.Thread(target=write, args=(f"w{i}",)) for i in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [200, 409, 409, 409, 409]
    final = client.get("/api/v1/workflows/cas").json()
    assert final["metadata"]["labels"]["writer"].startswith("w")
    stale = workflow("cas", {"p": one_task_pipeline()})
    stale["metadata"]["resourceVersion"] = version
    conflict = client.post("/api/v1/apply", json=stale)
    assert conflict.status_code == 409
    assert conflict.json()["reason"] == "Conflict"


def test_concurrent_applies_without_version_lose_no_update(client):
    client.post("/api/v1/apply", json=workflow("race", {"p": one_task_pipeline()}))
    generations: list[int] = []
    failures: list[int] = []

    def apply(i: int) -> None:
        doc = workflow("race", {"p": one_task_pipeline(f"echo {i}")})
        with httpx.Client(base_url=str(client.base_url), timeout=10) as own:
            response = own.post("/api/v1/apply", json=doc)
        if response.status_code == 200 and response.json()["action"] == "configured":
            generations.append(response.json()["object"]["metadata"]["generation"])
        else:
            failures.append(response.status_code)

    threads = [threading.Thread(target=apply, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # The server retries on the fresh version: every apply lands as its own generation.
    assert failures == []
    assert sorted(generations) == list(range(2, 10))
    final = client.get("/api/v1/workflows/race").json()
    assert final["metadata"]["generation"] == 9


def test_watch_streams_changes_in_order(client, apiserver):
    listing = client.get("/api/v1/workflows").json()
    revision = listing["metadata"]["resourceVersion"]
    events: list[tuple[str, str]] = []
    ready = threading.Event()

    def watch() -> None:
        with (
            httpx.Client(base_url=apiserver.url, timeout=20) as own,
            own.stream("GET", f"/api/v1/workflows?watch=true&resourceVersion={revision}") as stream,
        ):
            ready.set()
            for line in stream.iter_lines():
                if not line:
                    continue
                event = json.loads(line)
                events.append((event["type"], event["object"]["metadata"]["name"]))
                if event["type"] == "DELETED":
                    return

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    ready.wait(5)
    doc = workflow("watched", {"p": one_task_pipeline()})
    client.post("/api/v1/apply", json=doc).raise_for_status()
    doc["metadata"]["labels"] = {"v": "2"}
    client.post("/api/v1/apply", json=doc).raise_for_status()
    client.delete("/api/v1/workflows/watched").raise_for_status()
    watcher.join(15)
    watched = [e for e in events if e[1] == "watched"]
    assert [e[0] for e in watched][:1] == ["ADDED"]
    assert [e[0] for e in watched][-1] == "DELETED"
    assert "MODIFIED" in [e[0] for e in watched]


def test_openapi_and_probes(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").status_code == 200
    spec = client.get("/openapi.json").json()
    assert "/api/v1/apply" in spec["paths"]


def test_sigterm_stops_the_server_cleanly(apiserver):
    assert apiserver.stop(timeout=15) == 0
    assert "stopped" in apiserver.logs()
