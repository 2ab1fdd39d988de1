#!/usr/bin/env python3
"""Screenshots of every page of the web UI for docs/ui.md, taken from a real server.

Starts xene-apiserver (embedded etcd, an API token) and one agent on free loopback ports in a
temporary directory, applies the examples, runs them, and photographs each page in headless
Chromium (Debian's `chromium`, driven by Playwright): the login page, the overview, a run page
while it runs and once finished, a workflow page and the agents page, plus a phone-sized and
a dark-theme view. The agent runs the examples' steps as host processes (`--executor process`),
so no Docker engine is needed.

    .venv/bin/python scripts/ui-screenshots.py [--out docs/ui]
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from playwright.sync_api import Page, sync_playwright

REPO = Path(__file__).resolve().parents[1]
TOKEN = "screenshot-token"
WEBHOOK_SECRET = "screenshot-webhook-secret"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SLOW_FANOUT = """
apiVersion: xene.dev/v1
kind: Workflow
metadata:
  name: release
spec:
  triggers:
    - name: nightly
      type: cron
      schedule: "0 2 * * *"
  pipelines:
    ship:
      description: Build, test three ways, then publish
      executor: process
      triggers: [nightly]
      tasks:
        build:
          steps:
            - name: compile
              run: echo "compiling"; sleep 1; printf '\\033[32mbuild ok\\033[0m\\n'
        unit:
          dependencies: [build]
          retries: {limit: 2}
          steps: [{name: test, run: "echo unit tests; sleep 2; echo 42 passed"}]
        lint:
          dependencies: [build]
          steps: [{name: ruff, run: "echo linting; sleep 1"}]
        e2e:
          dependencies: [build]
          steps: [{name: browser, run: "echo e2e; sleep 60"}]
        publish:
          dependencies: [unit, lint, e2e]
          steps: [{name: upload, run: "echo publishing"}]
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def script(name: str) -> str:
    beside = Path(sys.executable).with_name(name)
    return str(beside) if beside.exists() else (shutil.which(name) or name)


def wait(check, timeout: float, what: str):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            result = check()
            if result:
                return result
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"timed out waiting for {what}")


def start(root: Path) -> tuple[list[subprocess.Popen[bytes]], str]:
    http, grpc = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("XENE_")}
    env["HOME"] = str(root / "home")
    env["TRIGGERS_WEBHOOK_SECRET"] = WEBHOOK_SECRET  # examples/triggers.yaml's webhook secret
    (root / "home").mkdir()
    server_args = [
        *(script("xene-apiserver"), "--http-address", f"127.0.0.1:{http}"),
        *("--grpc-address", f"127.0.0.1:{grpc}", "--data-dir", str(root / "data")),
        *("--embedded-etcd-client-port", str(free_port())),
        *("--embedded-etcd-peer-port", str(free_port()), "--api-token", TOKEN),
    ]
    with open(root / "apiserver.log", "ab") as log:
        processes = [subprocess.Popen(server_args, stdout=log, stderr=subprocess.STDOUT, env=env)]
    url = f"http://127.0.0.1:{http}"
    wait(lambda: httpx.get(url + "/readyz", timeout=1).status_code == 200, 60, "the apiserver")
    agent_args = [
        *(script("xene-agent"), "--server", f"127.0.0.1:{grpc}", "--name", "builder-1"),
        *("--labels", "os=linux,zone=lab", "--executor", "process", "--parallelism", "4"),
        *("--data-dir", str(root / "agent")),
    ]
    with open(root / "agent.log", "ab") as agent_log:
        processes.append(
            subprocess.Popen(agent_args, stdout=agent_log, stderr=subprocess.STDOUT, env=env)
        )
    return processes, url


def api(url: str) -> httpx.Client:
    return httpx.Client(base_url=url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)


def run_and_wait(client: httpx.Client, workflow: str, pipeline: str, finished: bool) -> str:
    path = f"/api/v1/workflows/{workflow}/pipelines/{pipeline}/runs"
    wait(
        lambda: (
            client.get(f"/api/v1/pipelines/{workflow}.{pipeline}").json()["status"].get("agent")
        ),
        60,
        f"{workflow}/{pipeline} to be placed",
    )
    body = {"parameters": {"GREETING": "hello"}} if pipeline == "report" else {}
    name = str(client.post(path, json=body).json()["metadata"]["name"])
    if finished:
        done = {"Succeeded", "Failed", "Cancelled"}
        wait(
            lambda: client.get(f"/api/v1/pipelineruns/{name}").json()["status"]["phase"] in done,
            120,
            f"{name} to finish",
        )
    return name


def push(client: httpx.Client) -> None:
    """A signed GitHub-style push to the `triggers` example's webhook."""
    body = json.dumps(
        {
            "ref": "refs/heads/main",
            "after": "3f2a9c1d5e7b8a6f4c2d1e0f9a8b7c6d5e4f3a2b",
            "repository": {"full_name": "example/app"},
            "pusher": {"name": "ann"},
        }
    ).encode()
    signature = hmac.new(WEBHOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
    response = client.post(
        "/api/v1/webhooks/triggers/build/on-push",
        content=body,
        headers={
            "Content-Type": "application/json",
            "X-GitHub-Event": "push",
            "X-GitHub-Delivery": "screenshot-1",
            "X-Hub-Signature-256": f"sha256={signature}",
        },
    )
    response.raise_for_status()


def shoot(page: Page, url: str, ready: str, out: Path, full: bool = True) -> None:
    page.goto(url)
    page.wait_for_selector(ready)
    page.wait_for_timeout(600)
    page.screenshot(path=str(out), full_page=full)
    print(f"wrote {out.relative_to(REPO) if out.is_relative_to(REPO) else out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "ui")
    parser.add_argument("--chromium", default=shutil.which("chromium") or "chromium")
    args = parser.parse_args()
    out: Path = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="xene-ui-shots-"))
    processes: list[subprocess.Popen[bytes]] = []
    try:
        processes, url = start(root)
        client = api(url)
        for example in ("fanout.yaml", "hello.yaml", "triggers.yaml"):
            response = client.post(
                "/api/v1/apply",
                content=(REPO / "examples" / example).read_bytes(),
                headers={"Content-Type": "application/yaml"},
            )
            response.raise_for_status()
        client.post(
            "/api/v1/apply", content=SLOW_FANOUT, headers={"Content-Type": "application/yaml"}
        ).raise_for_status()
        finished = run_and_wait(client, "fanout", "report", finished=True)
        run_and_wait(client, "fanout", "report", finished=True)
        run_and_wait(client, "hello", "build", finished=True)
        wait(
            lambda: client.get("/api/v1/pipelines/triggers.build").json()["status"].get("agent"),
            60,
            "triggers/build to be placed",
        )
        push(client)
        running = run_and_wait(client, "release", "ship", finished=False)

        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=args.chromium, args=CHROMIUM_FLAGS)
            context = browser.new_context(viewport={"width": 1280, "height": 860})
            page = context.new_page()
            shoot(page, url + "/", "input#token", out / "login.png", full=False)
            page.fill("input#token", TOKEN)
            page.click("button[type=submit]")
            page.wait_for_selector("#recent-runs tr[data-run]")
            wait(
                lambda: (
                    client.get(f"/api/v1/pipelineruns/{running}")
                    .json()["status"]["tasks"]
                    .get("e2e", {})
                    .get("phase")
                    == "Running"
                ),
                60,
                "the e2e task to run",
            )
            shoot(page, url + "/", "#recent-runs tr[data-run]", out / "overview.png")
            shoot(
                page,
                f"{url}/runs/{running}",
                '[data-task="e2e"][data-state="Running"]',
                out / "run-live.png",
            )
            page.goto(f"{url}/runs/{finished}")
            page.wait_for_selector('#run-phase[data-phase="Succeeded"]')
            page.click('[data-task="sum"]')
            page.wait_for_selector("#log .line")
            page.wait_for_timeout(600)
            page.screenshot(path=str(out / "run-finished.png"), full_page=True)
            print(f"wrote {out / 'run-finished.png'}")
            shoot(page, f"{url}/workflows/triggers", "code.webhook-url", out / "workflow.png")
            shoot(page, f"{url}/agents", "tr[data-agent]", out / "agents.png")

            cookies = context.cookies()
            phone = browser.new_context(
                viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True
            )
            phone.add_cookies(cookies)
            shoot(
                phone.new_page(),
                f"{url}/runs/{running}",
                "[data-task]",
                out / "run-phone.png",
                full=False,
            )
            dark = browser.new_context(viewport={"width": 1280, "height": 860}, color_scheme="dark")
            dark.add_cookies(cookies)
            shoot(
                dark.new_page(),
                f"{url}/runs/{finished}",
                "[data-task]",
                out / "run-dark.png",
                full=False,
            )
            browser.close()
        client.post(f"/api/v1/pipelineruns/{running}/cancel")
    finally:
        for process in reversed(processes):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
