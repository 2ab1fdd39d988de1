"""Drills: a thousand generated workflow files and webhook deliveries: no 5xx, nothing partial."""

from __future__ import annotations

import copy
import hashlib
import hmac
import itertools
import json
from typing import Any

import httpx
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.e2e.helpers import eventually, names
from tests.fixtures.servers import make_apiserver

pytestmark = pytest.mark.slow

VALID: dict[str, Any] = {
    "apiVersion": "xene.dev/v1",
    "kind": "Workflow",
    "metadata": {"name": "seed", "labels": {"team": "a"}},
    "spec": {
        "triggers": [
            {"name": "nightly", "type": "cron", "schedule": "0 3 * * *"},
            {"name": "push", "type": "webhook", "secretEnv": "PUSH_SECRET"},
        ],
        "pipelines": {
            "build": {
                "triggers": ["nightly", "push"],
                "agentSelector": {"os": "linux"},
                "tasks": {
                    "a": {"image": "busybox:latest", "steps": [{"name": "s", "run": "true"}]},
                    "b": {
                        "image": "busybox:latest",
                        "dependencies": ["a"],
                        "timeout": "5m",
                        "retries": {"limit": 1, "backoff": "1s"},
                        "steps": [{"name": "s", "run": "true", "allowFailure": True}],
                    },
                },
            }
        },
    },
}

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    st.sampled_from(["a", "A_b", "-x", "0 3 * * *", "@hourly", "61 * * * *", "5m", "x" * 80]),
)
values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)


def paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path into a nested document."""
    found = [prefix]
    if isinstance(node, dict):
        for key, child in node.items():
            found += paths(child, (*prefix, key))
    elif isinstance(node, list):
        for index, child in enumerate(node):
            found += paths(child, (*prefix, index))
    return found


@st.composite
def mutated_workflows(draw: st.DrawFn) -> Any:
    """The valid workflow with one to three random edits: replace, delete or add at any path."""
    document: Any = copy.deepcopy(VALID)
    for _ in range(draw(st.integers(1, 3))):
        candidates = paths(document)
        path = draw(st.sampled_from(candidates))
        action = draw(st.sampled_from(["replace", "delete", "add"]))
        if not path:
            document = draw(values) if action == "replace" else document
            continue
        parent = document
        for part in path[:-1]:
            parent = parent[part]
        if action == "replace":
            parent[path[-1]] = draw(values)
        elif action == "delete":
            del parent[path[-1]]
        elif isinstance(parent[path[-1]], dict):
            parent[path[-1]][draw(st.text(max_size=10))] = draw(values)
    return document


bodies = st.one_of(
    mutated_workflows().map(lambda doc: ("json", doc)),
    mutated_workflows().map(lambda doc: ("yaml", doc)),
    values.map(lambda doc: ("json", doc)),
    st.binary(max_size=300).map(lambda raw: ("raw", raw)),
    st.text(max_size=300).map(lambda text: ("raw", text.encode())),
)


def test_generated_workflow_files_get_4xx_or_success_and_nothing_partial(apiserver):
    counter = itertools.count()
    accepted: set[str] = set()
    statuses: list[int] = []

    with httpx.Client(base_url=apiserver.url, timeout=30) as client:

        @settings(
            max_examples=1000,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(bodies)
        def post(body: tuple[str, Any]) -> None:
            form, document = body
            name = None
            if isinstance(document, dict) and isinstance(document.get("metadata"), dict):
                name = f"gen-{next(counter)}"
                document["metadata"]["name"] = name
            if form == "raw":
                content, content_type = document, "application/yaml"
            elif form == "yaml":
                content, content_type = yaml.safe_dump(document).encode(), "application/yaml"
            else:
                content = json.dumps(document, allow_nan=True).encode()
                content_type = "application/json"
            response = client.post(
                "/api/v1/apply", content=content, headers={"Content-Type": content_type}
            )
            statuses.append(response.status_code)
            assert response.status_code < 500, (response.status_code, response.text, content)
            if response.status_code in (200, 201):
                accepted.add(response.json()["object"]["metadata"]["name"])
            else:
                assert response.json()["kind"] == "Status", response.text

        post()

        assert len(statuses) >= 1000
        assert any(code >= 400 for code in statuses) and accepted, "the drill tried both outcomes"
        stored = set(names(client, "workflows"))
        assert stored == accepted
        # Derived objects exist for accepted workflows only, once the controller has caught up.
        eventually(
            lambda: {p.split(".")[0] for p in names(client, "pipelines")} == accepted, timeout=60
        )


HOOK_SECRET = "drill-secret-2b9d"

header_values = st.one_of(
    # HTTP clients refuse header values with surrounding blanks; the server never sees those.
    st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=40).map(
        str.strip
    ),
    st.sampled_from(["push", "ping", "Push Hook", "sha256=", "sha256=00", ""]),
)
json_bodies = st.one_of(
    values.map(lambda value: json.dumps(value, allow_nan=True).encode()),
    st.fixed_dictionaries(
        {
            "ref": st.one_of(
                st.text(max_size=30), st.sampled_from(["refs/heads/main", "refs/tags/v1"])
            )
        },
        optional={
            "after": st.one_of(st.text(max_size=50), values),
            "repository": st.one_of(
                st.dictionaries(st.text(max_size=10), values, max_size=3), values
            ),
            "sender": st.one_of(st.dictionaries(st.text(max_size=10), values, max_size=3), values),
        },
    ).map(lambda value: json.dumps(value).encode()),
    st.binary(max_size=200),
)


@st.composite
def deliveries(draw: st.DrawFn) -> tuple[str, bytes, dict[str, str]]:
    """A path (mostly the real trigger), a body and headers, signed right about half the time."""
    body = draw(json_bodies)
    path = draw(
        st.sampled_from(
            ["drill/build/on-push"] * 6
            + ["drill/build/nightly", "drill/nope/on-push", "nope/build/on-push", "drill/build/x"]
        )
    )
    headers = {"Content-Type": "application/json"}
    signing = draw(st.sampled_from(["good", "good", "wrong", "missing", "garbage"]))
    digest = hmac.new(HOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
    header = draw(st.sampled_from(["X-Hub-Signature-256", "X-Xene-Signature-256"]))
    if signing == "good":
        headers[header] = f"sha256={digest}"
    elif signing == "wrong":
        headers[header] = f"sha256={digest[::-1]}"
    elif signing == "garbage":
        headers[header] = draw(header_values)
    for name in ("X-GitHub-Event", "X-GitHub-Delivery", "X-Xene-Delivery", "X-Gitlab-Event"):
        if draw(st.booleans()):
            headers[name] = draw(header_values)
    return path, body, headers


def test_generated_webhook_deliveries_get_4xx_or_one_run_each(etcd_server, tmp_path):
    server = make_apiserver(tmp_path, etcd_server.endpoint)
    server.env["HOOK_SECRET"] = HOOK_SECRET
    server.start()
    created: set[str] = set()
    statuses: list[int] = []
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            document = {
                "apiVersion": "xene.dev/v1",
                "kind": "Workflow",
                "metadata": {"name": "drill"},
                "spec": {
                    "triggers": [
                        {"name": "on-push", "type": "webhook", "secretEnv": "HOOK_SECRET"},
                        {"name": "nightly", "type": "cron", "schedule": "@yearly"},
                    ],
                    "pipelines": {
                        "build": {
                            "triggers": ["on-push", "nightly"],
                            "executor": "process",
                            "tasks": {"t": {"steps": [{"name": "s", "run": "true"}]}},
                        }
                    },
                },
            }
            assert client.post("/api/v1/apply", json=document).status_code == 201
            eventually(lambda: "drill.on-push" in names(client, "triggers"))

            @settings(
                max_examples=1000,
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            @given(deliveries())
            def deliver(delivery: tuple[str, bytes, dict[str, str]]) -> None:
                path, body, headers = delivery
                response = client.post(f"/api/v1/webhooks/{path}", content=body, headers=headers)
                statuses.append(response.status_code)
                assert response.status_code < 500, (response.status_code, response.text, delivery)
                if response.status_code == 202:
                    answer = response.json()
                    if answer["created"]:
                        assert answer["run"] not in created
                        created.add(answer["run"])
                    else:
                        assert answer["run"] in created

            deliver()

            assert len(statuses) >= 1000
            assert created and any(400 <= code < 500 for code in statuses)
            runs = client.get("/api/v1/pipelineruns").json()["items"]
            assert {run["metadata"]["name"] for run in runs} == created
    finally:
        server.stop()
