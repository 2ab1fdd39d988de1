"""Workflow files the xenectl tests read."""

from __future__ import annotations

from pathlib import Path

HELLO = """\
apiVersion: xene.dev/v1
kind: Workflow
metadata:
  name: hello
spec:
  triggers:
    - name: every-5-min
      type: cron
      schedule: "*/5 * * * *"
    - name: on-push
      type: webhook
      secretEnv: HELLO_WEBHOOK_SECRET
  pipelines:
    build:
      triggers: [every-5-min, on-push]
      agentSelector: {os: linux}
      tasks:
        checkout:
          image: busybox:latest
          steps:
            - name: fetch
              run: echo fetching > src.txt
        test:
          image: busybox:latest
          dependencies: [checkout]
          steps:
            - name: unit
              run: cat src.txt
    lint:
      tasks:
        lint:
          image: busybox:latest
          steps: [{name: lint, run: "true"}]
"""

CYCLE = """\
apiVersion: xene.dev/v1
kind: Workflow
metadata:
  name: cycle
spec:
  pipelines:
    build:
      tasks:
        a:
          image: busybox:latest
          dependencies: [b]
          steps: [{name: s, run: "true"}]
        b:
          image: busybox:latest
          dependencies: [a]
          steps: [{name: s, run: "true"}]
"""

MALFORMED = """\
apiVersion: xene.dev/v1
kind: Workflow
metadata:
  name: broken
 spec: [
"""

TWO_DOCUMENTS = (
    HELLO.replace("name: hello", "name: first")
    + "---\n"
    + HELLO.replace("name: hello", "name: second")
)


def write(directory: Path, name: str, text: str) -> Path:
    """Write `text` to `directory/name` and return the path."""
    path = directory / name
    path.write_text(text)
    return path
