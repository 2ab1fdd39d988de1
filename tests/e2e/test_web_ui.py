"""The web UI in headless Chromium against a real apiserver, etcd and agent (process executor):
the overview follows new runs, the DAG's data-state attributes move live, the log pane follows,
cancel works from the page, and a viewer gets no action buttons."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fixtures.agents import AgentProcess, make_agent, placements, wait_until
from tests.fixtures.etcd import EtcdServer
from tests.fixtures.servers import ApiServerProcess, make_apiserver

# Steps wait for a file the test creates: the test decides when a task moves on.
WAIT_FOR_GATE = 'while [ ! -e "$GATE" ]; do sleep 0.02; done'
TICK = (
    f"echo waiting; {WAIT_FOR_GATE}; "
    + "python3 -c \"import time; print('mark', repr(time.time()))\"; sleep 0.5"
)


def ui_workflow() -> dict[str, Any]:
    leaf = {
        "dependencies": ["start"],
        "steps": [{"name": "work", "run": f"{WAIT_FOR_GATE}; echo leaf done"}],
    }
    return {
        "apiVersion": "xene.dev/v1",
        "kind": "Workflow",
        "metadata": {"name": "ui"},
        "spec": {
            # Fires once a year: it is there to be suspended and resumed, not to run.
            "triggers": [{"name": "new-year", "type": "cron", "schedule": "0 0 1 1 *"}],
            "pipelines": {
                "fan": {
                    "executor": "process",
                    # Only the test's own agent takes it, so its runs wait until that one comes.
                    "agentSelector": {"role": "fan-out"},
                    "tasks": {
                        "start": {"steps": [{"name": "begin", "run": "echo begin; sleep 0.3"}]},
                        "left": leaf,
                        "middle": leaf,
                        "right": leaf,
                    },
                },
                "ticker": {
                    "executor": "process",
                    "tasks": {
                        "tick": {
                            "steps": [
                                {
                                    "name": "print",
                                    "run": TICK,
                                }
                            ]
                        }
                    },
                },
                "yearly": {
                    "executor": "process",
                    "triggers": ["new-year"],
                    "tasks": {"once": {"steps": [{"name": "echo", "run": "echo $WHO"}]}},
                },
                "long": {
                    "executor": "process",
                    "tasks": {
                        "sleep": {"steps": [{"name": "nap", "run": "echo napping; sleep 120"}]}
                    },
                },
            },
        },
    }


@dataclass
class Cluster:
    """A running apiserver with the `ui` workflow applied; `agent()` starts the agent."""

    server: ApiServerProcess
    workdir: Path
    agent_process: AgentProcess | None = None

    @property
    def url(self) -> str:
        return self.server.url

    def agent(self) -> None:
        """Start the agent (once) and wait until the pipelines are placed on it."""
        if self.agent_process is None:
            self.agent_process = make_agent(self.workdir, self.server, "worker").start()
        wait_until(
            lambda: all(
                placements(self.server).get(f"ui.{p}") == "worker"
                for p in ("ticker", "long", "yearly")
            ),
            30.0,
            "the ui pipelines to be placed on agent worker",
        )

    def start_run(self, pipeline: str, **parameters: str) -> str:
        response = httpx.post(
            f"{self.url}/api/v1/workflows/ui/pipelines/{pipeline}/runs",
            json={"parameters": parameters},
            timeout=10.0,
        )
        assert response.status_code == 201, response.text
        return str(response.json()["metadata"]["name"])

    def run(self, name: str) -> dict[str, Any]:
        response = httpx.get(f"{self.url}/api/v1/pipelineruns/{name}", timeout=10.0)
        response.raise_for_status()
        return dict(response.json())

    def wait_phase(self, name: str, phase: str, timeout: float = 30.0) -> None:
        wait_until(
            lambda: self.run(name)["status"].get("phase") == phase,
            timeout,
            f"{name} to be {phase}",
            lambda: self.run(name)["status"],
        )


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    workdir = tmp_path_factory.mktemp("web-ui")
    etcd = EtcdServer(workdir / "etcd")
    etcd.start()
    server = make_apiserver(workdir, etcd.endpoint)
    server.start()
    state = Cluster(server, workdir)
    try:
        response = httpx.post(f"{server.url}/api/v1/apply", json=ui_workflow(), timeout=10.0)
        assert response.status_code in (200, 201), response.text
        yield state
    finally:
        if state.agent_process is not None:
            state.agent_process.kill()
        try:
            server.stop()
        except subprocess.TimeoutExpired:
            pass
        etcd.kill()


def gate(cluster: Cluster, name: str) -> str:
    """A path that does not exist yet; create it to let the waiting step go on."""
    return str(cluster.workdir / f"gate-{name}-{time.monotonic_ns()}")


RECORD_STATES = """() => {
  window.__noReload = true;
  window.__states = {};
  for (const node of document.querySelectorAll('[data-task]')) {
    window.__states[node.dataset.task] = [node.dataset.state];
    new MutationObserver(() => {
      const seen = window.__states[node.dataset.task];
      if (seen[seen.length - 1] !== node.dataset.state) seen.push(node.dataset.state);
    }).observe(node, {attributes: true, attributeFilter: ['data-state']});
  }
}"""


def test_run_page_draws_the_fan_out_and_follows_its_states_live(cluster: Cluster, page) -> None:  # type: ignore[no-untyped-def]
    # The run is made before an agent can take it, so the page sees every task from Waiting on.
    leaves_gate = gate(cluster, "leaves")
    name = cluster.start_run("fan", GATE=leaves_gate)
    page.goto(f"{cluster.url}/runs/{name}")
    page.wait_for_selector('[data-task="right"]')
    tasks = page.eval_on_selector_all(
        "[data-task]", "nodes => nodes.map(n => [n.dataset.task, n.dataset.state])"
    )
    assert sorted(tasks) == [
        ["left", "Waiting"],
        ["middle", "Waiting"],
        ["right", "Waiting"],
        ["start", "Waiting"],
    ]
    edges = page.eval_on_selector_all(
        "path.edge", "paths => paths.map(p => [p.dataset.from, p.dataset.to])"
    )
    assert sorted(edges) == [["start", "left"], ["start", "middle"], ["start", "right"]]
    page.evaluate(RECORD_STATES)

    fan_agent = make_agent(
        cluster.workdir,
        cluster.server,
        "fan-out",
        labels={"role": "fan-out"},
        extra=("--parallelism", "4"),  # the three leaves run at once even on two cores
    )
    fan_agent.start()
    try:
        watch_fan_out(cluster, page, name, leaves_gate)
    finally:
        fan_agent.kill()


def watch_fan_out(cluster: Cluster, page, name: str, leaves_gate: str) -> None:  # type: ignore[no-untyped-def]
    for leaf in ("left", "middle", "right"):
        page.wait_for_selector(f'[data-task="{leaf}"][data-state="Running"]', timeout=30_000)
    assert page.get_attribute('[data-task="start"]', "data-state") == "Succeeded"
    Path(leaves_gate).touch()
    for task in ("left", "middle", "right"):
        page.wait_for_selector(f'[data-task="{task}"][data-state="Succeeded"]', timeout=30_000)
    page.wait_for_selector('#run-phase[data-phase="Succeeded"]')

    assert page.evaluate("window.__noReload") is True
    states = page.evaluate("window.__states")
    for task, seen in states.items():
        visible = [state for state in seen if state != "Ready"]
        assert visible == ["Waiting", "Running", "Succeeded"], (task, seen)
    # Each node says its state in text as well as colour, and its attempt.
    assert "Succeeded" in page.text_content('[data-task="left"]')
    assert "attempt 1" in page.text_content('[data-task="left"]')


def test_overview_lists_a_new_run_without_a_reload(cluster: Cluster, page) -> None:  # type: ignore[no-untyped-def]
    cluster.agent()
    page.goto(cluster.url + "/")
    page.wait_for_selector('[data-workflow="ui"] [data-pipeline="ui.ticker"]')
    page.evaluate("window.__noReload = true")
    opened = gate(cluster, "overview")
    name = cluster.start_run("ticker", GATE=opened)
    try:
        row = page.wait_for_selector(f'#recent-runs tr[data-run="{name}"]', timeout=5_000)
        assert name in row.text_content()
        page.wait_for_selector(
            f'[data-pipeline="ui.ticker"] a.mark[href="/runs/{name}"]', timeout=5_000
        )
        assert page.evaluate("window.__noReload") is True
    finally:
        Path(opened).touch()
    cluster.wait_phase(name, "Succeeded")
    page.wait_for_selector(
        f'#recent-runs tr[data-run="{name}"][data-phase="Succeeded"]', timeout=5_000
    )

    # Filters live in the URL and narrow the list.
    page.select_option('select[data-filter="pipeline"]', "ui.long")
    page.wait_for_url("**/?pipeline=ui.long")
    page.wait_for_selector("#recent-runs td.empty, #recent-runs tr[data-run^='ui.long.']")
    assert page.query_selector(f'#recent-runs tr[data-run="{name}"]') is None


WATCH_LOG = """() => {
  window.__lineSeen = null;
  const log = document.getElementById('log');
  new MutationObserver(() => {
    if (window.__lineSeen === null && log.textContent.includes('mark ')) {
      window.__lineSeen = Date.now() / 1000;
    }
  }).observe(log, {childList: true, subtree: true, characterData: true});
}"""


def test_log_pane_shows_a_line_within_a_second_of_its_step_printing_it(
    cluster: Cluster, page
) -> None:  # type: ignore[no-untyped-def]
    cluster.agent()
    opened = gate(cluster, "log")
    name = cluster.start_run("ticker", GATE=opened)
    cluster.wait_phase(name, "Running")
    page.goto(f"{cluster.url}/runs/{name}")
    page.wait_for_selector("#log .line", timeout=10_000)  # `waiting`: the follow is live
    assert "[tick/print] waiting" in page.text_content("#log")
    page.evaluate(WATCH_LOG)
    Path(opened).touch()
    page.wait_for_function("() => window.__lineSeen !== null", timeout=10_000)
    seen = page.evaluate("window.__lineSeen")
    text = page.text_content("#log")
    printed = float(text.split("mark ", 1)[1].split()[0])
    assert seen - printed <= 1.0, (
        f"the line reached the page {seen - printed:.3f}s after it was printed"
    )

    # Once the run is finished its whole log is in the page, searchable, with a raw link.
    page.wait_for_selector('#run-phase[data-phase="Succeeded"]', timeout=15_000)
    page.fill("#log-search", "mark")
    page.wait_for_selector("#log mark")
    assert page.get_attribute("#log-status", "data-lines") == "2"
    raw = page.get_attribute("#log-raw", "href")
    assert raw == f"/api/v1/pipelineruns/{name}/logs"
    assert "mark " in httpx.get(cluster.url + raw, timeout=5.0).text


def test_cancel_from_the_run_page_cancels_the_run(cluster: Cluster, page) -> None:  # type: ignore[no-untyped-def]
    cluster.agent()
    name = cluster.start_run("long")
    cluster.wait_phase(name, "Running")
    page.goto(f"{cluster.url}/runs/{name}")
    page.click('button[data-action="cancel"]')
    dialog = page.wait_for_selector("dialog[open]")
    assert "Cancel this run?" in dialog.text_content()
    page.click("dialog[open] [data-confirm]")
    cluster.wait_phase(name, "Cancelled", timeout=30.0)
    page.wait_for_selector('#run-phase[data-phase="Cancelled"]', timeout=10_000)
    page.wait_for_selector('[data-task="sleep"][data-state="Cancelled"]', timeout=10_000)
    assert page.query_selector('button[data-action="cancel"]') is None


VIEWER = '{"authenticated": true, "name": "reader", "role": "viewer"}'


def action_buttons(page, url: str, ready: str) -> int:  # type: ignore[no-untyped-def]
    page.goto(url)
    page.wait_for_selector(ready)
    return int(page.eval_on_selector_all("[data-action]", "nodes => nodes.length"))


def test_a_viewer_gets_no_action_buttons(cluster: Cluster, page, browser) -> None:  # type: ignore[no-untyped-def]
    cluster.agent()
    name = cluster.start_run("long")
    try:
        cluster.wait_phase(name, "Running")
        pages = [
            (f"{cluster.url}/", "[data-workflow='ui'] [data-pipeline='ui.long']"),
            (f"{cluster.url}/workflows/ui", "tr[data-pipeline='ui.long']"),
            (f"{cluster.url}/runs/{name}", "[data-task='sleep']"),
            (f"{cluster.url}/agents", "tr[data-agent='worker']"),
        ]
        # An admin (no token configured) gets them on every page...
        for url, ready in pages:
            assert action_buttons(page, url, ready) > 0, url

        # ...and a viewer, as whoami says, on none.
        viewer = browser.new_context(viewport={"width": 1280, "height": 900})
        try:
            tab = viewer.new_page()
            tab.route(
                "**/api/v1/whoami",
                lambda route: route.fulfill(
                    status=200, content_type="application/json", body=VIEWER
                ),
            )
            for url, ready in pages:
                assert action_buttons(tab, url, ready) == 0, url
            assert "read-only" not in tab.text_content("#session")
            assert "viewer" in tab.text_content("#session")
        finally:
            viewer.close()
    finally:
        httpx.post(f"{cluster.url}/api/v1/pipelineruns/{name}/cancel", timeout=10.0)


def test_run_now_with_parameters_opens_the_new_run(cluster: Cluster, page) -> None:  # type: ignore[no-untyped-def]
    cluster.agent()
    page.goto(f"{cluster.url}/workflows/ui")
    page.click('tr[data-pipeline="ui.yearly"] button[data-action="run"]')
    page.wait_for_selector("dialog[open]")
    page.click("dialog[open] button:has-text('Add parameter')")
    page.fill("dialog[open] .param-name", "WHO")
    page.fill("dialog[open] .param-value", "the browser")
    page.click("dialog[open] [data-confirm]")
    page.wait_for_url("**/runs/ui.yearly.*")
    name = page.url.rsplit("/", 1)[1]
    assert cluster.run(name)["spec"]["parameters"] == {"WHO": "the browser"}
    page.wait_for_selector('#run-phase[data-phase="Succeeded"]', timeout=30_000)
    page.wait_for_selector("#log .line:has-text('the browser')")

    # A bad parameter name is refused in the dialog, and nothing is started.
    page.goto(f"{cluster.url}/workflows/ui")
    page.click('tr[data-pipeline="ui.yearly"] button[data-action="run"]')
    page.click("dialog[open] button:has-text('Add parameter')")
    page.fill("dialog[open] .param-name", "1-bad")
    page.click("dialog[open] [data-confirm]")
    page.wait_for_selector("dialog[open] .form-error:has-text('not a parameter name')")


def endpoint_missing(cluster: Cluster, path: str) -> bool:
    """True while the server has no route for `path` (the route, not the object, is absent)."""
    response = httpx.post(f"{cluster.url}{path}", timeout=10.0)
    no_route = response.status_code == 404 and "no such path" in response.text
    return no_route or response.status_code == 405


def test_rerun_from_the_run_page_opens_the_new_run(cluster: Cluster, page) -> None:  # type: ignore[no-untyped-def]
    if endpoint_missing(cluster, "/api/v1/pipelineruns/no.such.1/rerun"):
        pytest.skip("this server has no POST /pipelineruns/{run}/rerun yet")
    cluster.agent()
    opened = gate(cluster, "rerun")
    Path(opened).touch()
    first = cluster.start_run("ticker", GATE=opened)
    cluster.wait_phase(first, "Succeeded")
    page.goto(f"{cluster.url}/runs/{first}")
    page.click('button[data-action="rerun"]')
    page.wait_for_url(lambda url: not url.endswith(f"/runs/{first}"))
    second = page.url.rsplit("/", 1)[1]
    assert second.startswith("ui.ticker.") and second != first
    assert cluster.run(second)["spec"]["parameters"] == {"GATE": opened}
    page.wait_for_selector('#run-phase[data-phase="Succeeded"]', timeout=30_000)


def test_suspend_and_resume_a_cron_trigger_from_the_workflow_page(cluster: Cluster, page) -> None:  # type: ignore[no-untyped-def]
    if endpoint_missing(cluster, "/api/v1/triggers/no.such/suspend"):
        pytest.skip("this server has no POST /triggers/{name}/suspend yet")
    page.goto(f"{cluster.url}/workflows/ui")
    page.click('tr[data-trigger="ui.new-year"] button[data-action="suspend"]')
    page.click("dialog[open] [data-confirm]")
    page.wait_for_selector('tr[data-trigger="ui.new-year"][data-suspended="true"]')
    trigger = httpx.get(f"{cluster.url}/api/v1/triggers/ui.new-year", timeout=10.0).json()
    assert trigger["spec"]["suspend"] is True
    page.click('tr[data-trigger="ui.new-year"] button[data-action="resume"]')
    page.wait_for_selector('tr[data-trigger="ui.new-year"][data-suspended="false"]')
    trigger = httpx.get(f"{cluster.url}/api/v1/triggers/ui.new-year", timeout=10.0).json()
    assert trigger["spec"]["suspend"] is False


def test_cordon_and_uncordon_an_agent_from_the_agents_page(cluster: Cluster, page) -> None:  # type: ignore[no-untyped-def]
    if endpoint_missing(cluster, "/api/v1/agents/no-such/cordon"):
        pytest.skip("this server has no POST /agents/{name}/cordon yet")
    cluster.agent()
    page.goto(f"{cluster.url}/agents")
    page.click('tr[data-agent="worker"] button[data-action="cordon"]')
    assert "Cordon this agent?" in page.text_content("dialog[open]")
    page.click("dialog[open] [data-confirm]")
    try:
        page.wait_for_selector('tr[data-agent="worker"][data-cordoned="true"]')
        agent = httpx.get(f"{cluster.url}/api/v1/agents/worker", timeout=10.0).json()
        assert agent["spec"]["unschedulable"] is True
        page.click('tr[data-agent="worker"] button[data-action="uncordon"]')
        page.wait_for_selector('tr[data-agent="worker"][data-cordoned="false"]')
    finally:
        httpx.post(f"{cluster.url}/api/v1/agents/worker/uncordon", timeout=10.0)
    agent = httpx.get(f"{cluster.url}/api/v1/agents/worker", timeout=10.0).json()
    assert agent["spec"].get("unschedulable", False) is False
