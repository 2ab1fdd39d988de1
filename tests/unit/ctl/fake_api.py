"""An in-memory stand-in for the REST API, served to XeneClient through httpx.MockTransport."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import httpx

from xene.api.selectors import parse_selector

CREATED = "2024-05-01T10:00:00Z"


def status(code: int, reason: str, message: str, causes: list[dict] | None = None) -> dict:
    """A Status body as the API server sends it."""
    body: dict[str, Any] = {
        "apiVersion": "xene.dev/v1",
        "kind": "Status",
        "status": "Failure",
        "code": code,
        "reason": reason,
        "message": message,
    }
    if causes:
        body["details"] = {"causes": causes}
    return body


def workflow_object(name: str, pipelines: int = 1, triggers: int = 0) -> dict[str, Any]:
    """A stored Workflow as served."""
    return {
        "apiVersion": "xene.dev/v1",
        "kind": "Workflow",
        "metadata": {
            "name": name,
            "uid": f"uid-{name}",
            "resourceVersion": "7",
            "generation": 1,
            "creationTimestamp": CREATED,
        },
        "spec": {
            "triggers": [
                {"name": f"t{i}", "type": "cron", "schedule": "*/5 * * * *"}
                for i in range(triggers)
            ],
            "pipelines": {
                f"p{i}": {
                    "tasks": {"main": {"image": "busybox", "steps": [{"name": "s", "run": "true"}]}}
                }
                for i in range(pipelines)
            },
        },
        "status": {},
    }


def pipeline_object(
    name: str, phase: str = "Scheduled", agent: str | None = "agent-1"
) -> dict[str, Any]:
    """A stored Pipeline as served."""
    workflow, _, pipeline = name.partition(".")
    return {
        "apiVersion": "xene.dev/v1",
        "kind": "Pipeline",
        "metadata": {
            "name": name,
            "resourceVersion": "9",
            "creationTimestamp": CREATED,
            "ownerReferences": [{"kind": "Workflow", "name": workflow}],
        },
        "spec": {
            "workflow": workflow,
            "pipeline": pipeline,
            "executor": "docker",
            "agentSelector": {"os": "linux"},
            "triggers": [{"name": "every-5-min", "type": "cron", "schedule": "*/5 * * * *"}],
            "tasks": {
                "test": {
                    "image": "busybox:latest",
                    "dependencies": ["checkout"],
                    "steps": [{"name": "unit", "run": "true"}],
                },
                "checkout": {
                    "image": "busybox:latest",
                    "steps": [{"name": "fetch", "run": "true"}],
                },
            },
        },
        "status": {"phase": phase, "agent": agent},
    }


@dataclass
class FakeApiServer:
    """Objects by plural kind and name; records every request it was sent."""

    objects: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    requests: list[httpx.Request] = field(default_factory=list)
    rejections: dict[str, dict[str, Any]] = field(default_factory=dict)
    watch_lines: list[dict[str, Any]] = field(default_factory=list)
    fail_with: dict[str, Any] | None = None
    revision: int = 100
    events: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    webhooks: dict[str, dict[str, Any]] = field(default_factory=dict)

    def add(self, plural: str, obj: dict[str, Any]) -> None:
        self.objects.setdefault(plural, {})[obj["metadata"]["name"]] = obj

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.fail_with is not None:
            return httpx.Response(self.fail_with["code"], json=self.fail_with)
        path = request.url.path
        if path == "/version":
            return httpx.Response(200, json={"version": "0.1.0"})
        parts = path.removeprefix("/api/v1/").split("/")
        if path == "/api/v1/apply" and request.method == "POST":
            return self._apply(json.loads(request.content))
        plural = parts[0]
        if plural not in ("workflows", "pipelines", "triggers", "agents", "pipelineruns"):
            return httpx.Response(404, json=status(404, "NotFound", f"unknown kind '{plural}'"))
        stored = self.objects.setdefault(plural, {})
        if len(parts) == 1:
            if request.url.params.get("watch") == "true":
                body = "".join(json.dumps(line) + "\n" for line in self.watch_lines)
                return httpx.Response(
                    200, content=body, headers={"Content-Type": "application/x-ndjson"}
                )
            items = list(stored.values())
            selector = parse_selector(request.url.params.get("labelSelector"))
            items = [obj for obj in items if selector.matches(obj["metadata"].get("labels"))]
            return httpx.Response(
                200,
                json={
                    "apiVersion": "xene.dev/v1",
                    "kind": plural[:-1].capitalize() + "List",
                    "metadata": {"resourceVersion": str(self.revision)},
                    "items": items,
                },
            )
        name = parts[1]
        if name not in stored:
            return httpx.Response(
                404, json=status(404, "NotFound", f"{plural[:-1]} '{name}' not found")
            )
        if len(parts) == 3:
            return self._action(plural, name, parts[2], request)
        if request.method == "DELETE":
            if plural not in ("workflows", "pipelineruns", "agents"):
                return httpx.Response(
                    405,
                    json=status(405, "MethodNotAllowed", f"{plural} are read-only"),
                )
            return httpx.Response(200, json=stored.pop(name))
        return httpx.Response(200, json=stored[name])

    def _action(
        self, plural: str, name: str, action: str, request: httpx.Request
    ) -> httpx.Response:
        """The routes below an object: events, webhook, suspend/resume, cordon/uncordon, rerun."""
        obj = self.objects[plural][name]
        if (plural, action) == ("pipelineruns", "events"):
            return httpx.Response(200, json={"items": self.events.get(name, [])})
        if (plural, action) == ("triggers", "webhook"):
            return httpx.Response(200, json=self.webhooks[name])
        if (plural, action) in (("triggers", "suspend"), ("triggers", "resume")):
            obj["spec"]["suspend"] = action == "suspend"
            return httpx.Response(200, json=obj)
        if (plural, action) in (("agents", "cordon"), ("agents", "uncordon")):
            obj["spec"]["unschedulable"] = action == "cordon"
            return httpx.Response(200, json=obj)
        if (plural, action) == ("pipelineruns", "rerun"):
            number = max(run["spec"]["number"] for run in self.objects[plural].values()) + 1
            pipeline = name.rsplit(".", 1)[0]
            new = {
                **obj,
                "metadata": {**obj["metadata"], "name": f"{pipeline}.{number}"},
                "spec": {**obj["spec"], "number": number, "trigger": {"rerunOf": name}},
                "status": {"phase": "Pending"},
            }
            self.add(plural, new)
            return httpx.Response(201, json=new)
        return httpx.Response(404, json=status(404, "NotFound", f"no route {request.url.path}"))

    def _apply(self, document: dict[str, Any]) -> httpx.Response:
        name = document["metadata"]["name"]
        if name in self.rejections:
            rejection = self.rejections[name]
            return httpx.Response(rejection["code"], json=rejection)
        stored = self.objects.setdefault("workflows", {})
        previous = stored.get(name)
        obj = {**document, "metadata": {**document["metadata"], "resourceVersion": "8"}}
        stored[name] = obj
        if previous is None:
            return httpx.Response(201, json={"action": "created", "object": obj})
        action = "unchanged" if previous["spec"] == document["spec"] else "configured"
        return httpx.Response(200, json={"action": action, "object": obj})
