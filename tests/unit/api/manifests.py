"""Workflow documents the API tests start from, as plain dicts a test may change freely."""

from __future__ import annotations

from typing import Any

import pytest

from xene.api.errors import Invalid
from xene.api.validation import validate_object


def workflow_document() -> dict[str, Any]:
    """A valid workflow: a cron and a webhook trigger, a checkout -> test pipeline, a lint one."""
    return {
        "apiVersion": "xene.dev/v1",
        "kind": "Workflow",
        "metadata": {"name": "hello", "labels": {"team": "ci"}},
        "spec": {
            "triggers": [
                {"name": "every-5-min", "type": "cron", "schedule": "*/5 * * * *"},
                {"name": "on-push", "type": "webhook", "secretEnv": "HELLO_WEBHOOK_SECRET"},
            ],
            "pipelines": {
                "build": {
                    "triggers": ["every-5-min", "on-push"],
                    "agentSelector": {"os": "linux"},
                    "tasks": {
                        "checkout": {
                            "image": "busybox:latest",
                            "steps": [{"name": "fetch", "run": "echo hi > src.txt"}],
                        },
                        "test": {
                            "image": "busybox:latest",
                            "dependencies": ["checkout"],
                            "timeout": "10m",
                            "retries": {"limit": 2, "backoff": "5s"},
                            "steps": [{"name": "unit", "run": "cat src.txt"}],
                        },
                    },
                },
                "lint": {
                    "triggers": ["on-push"],
                    "executor": "process",
                    "tasks": {"lint": {"steps": [{"name": "lint", "run": "true"}]}},
                },
            },
        },
    }


# A v1alpha1 manifest as Xene's original API wrote it.
LEGACY = """\
apiVersion: v1alpha1
kind: Workflow
metadata: {name: hello, description: "Says hello"}
spec:
  triggers:
    every-minute: {type: cron, cronConfig: {schedule: "* * * * *"}}
    on-push: {type: webhook, description: "Pushes to main"}
  pipelines:
    build:
      description: Fetch, then test
      trigger: every-minute
      executor: {type: container, containerConfig: {image: "busybox:latest"}}
      tasks:
        checkout:
          description: Get the sources
          workingDir: /workspace
          dependencies: []
          steps:
            - {name: fetch, type: shell, cmd: "echo hi > src.txt"}
        test:
          image: alpine:3.20
          dependencies: [checkout]
          steps:
            - {name: unit, type: shell, cmd: "cat src.txt"}
    deploy:
      trigger: on-push
      executor: {type: container, containerConfig: {image: "busybox:latest"}}
      tasks:
        ship:
          steps:
            - {name: ship, cmd: "echo shipped"}
"""


def problems(document: Any) -> list[str]:
    """Every `path: message` validation reports for `document` (which must be invalid)."""
    with pytest.raises(Invalid) as caught:
        validate_object(document)
    return [str(error) for error in caught.value.errors]
