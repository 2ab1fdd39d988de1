"""The web UI's login against a real apiserver that requires a token: an anonymous browser sees
only the login page, the session cookie is HttpOnly and SameSite=Strict, writes made with it
need the CSRF token, and logging out ends the session."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.fixtures.etcd import EtcdServer
from tests.fixtures.servers import ApiServerProcess, make_apiserver

TOKEN = "s3cret-ui-token"

FETCH = """async ([method, path, csrf]) => {
  const headers = {};
  if (csrf) {
    const cookie = document.cookie.split('; ').find(c => c.startsWith('xene_csrf='));
    headers['X-Xene-CSRF'] = cookie ? decodeURIComponent(cookie.slice('xene_csrf='.length)) : '';
  }
  const response = await fetch(path, {method, headers, credentials: 'same-origin'});
  return response.status;
}"""


@pytest.fixture
def guarded(etcd_server: EtcdServer, tmp_path: Path) -> Iterator[ApiServerProcess]:
    server = make_apiserver(tmp_path, etcd_server.endpoint, "--api-token", TOKEN)
    server.start()
    try:
        yield server
    finally:
        try:
            server.stop()
        except subprocess.TimeoutExpired:
            pass


def test_login_keeps_an_anonymous_browser_out_and_logout_ends_the_session(guarded, page) -> None:  # type: ignore[no-untyped-def]
    url = guarded.url
    workflow = {
        "apiVersion": "xene.dev/v1",
        "kind": "Workflow",
        "metadata": {"name": "secret-work"},
        "spec": {
            "pipelines": {
                "p": {
                    "executor": "process",
                    "tasks": {"t": {"steps": [{"name": "s", "run": "true"}]}},
                }
            }
        },
    }
    applied = httpx.post(
        f"{url}/api/v1/apply",
        json=workflow,
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=10.0,
    )
    assert applied.status_code == 201, applied.text

    # Anonymous: every page leads to the login form, and no data reaches the page.
    page.goto(f"{url}/workflows/secret-work")
    page.wait_for_url("**/login?next=%2Fworkflows%2Fsecret-work")
    page.wait_for_selector("input#token")
    assert "secret-work" not in page.text_content("main")
    assert page.evaluate(FETCH, ["GET", "/api/v1/workflows", False]) == 401

    page.fill("input#token", "not-the-token")
    page.click("button[type=submit]")
    page.wait_for_selector("p.form-error:has-text('not valid')")
    assert "/login" in page.url

    page.fill("input#token", TOKEN)
    page.click("button[type=submit]")
    page.wait_for_url("**/workflows/secret-work")
    page.wait_for_selector("tr[data-pipeline='secret-work.p']")
    assert page.text_content("#session").startswith("api-token · admin")

    cookies = {cookie["name"]: cookie for cookie in page.context.cookies()}
    session = cookies["xene_session"]
    assert session["httpOnly"] is True and session["sameSite"] == "Strict"
    assert cookies["xene_csrf"]["sameSite"] == "Strict"
    assert "xene_session" not in page.evaluate("() => document.cookie")

    # With the cookie, reads pass; writes need the CSRF header as well.
    assert page.evaluate(FETCH, ["GET", "/api/v1/workflows", False]) == 200
    run_path = "/api/v1/workflows/secret-work/pipelines/p/runs"
    assert page.evaluate(FETCH, ["POST", run_path, False]) == 403
    assert page.evaluate(FETCH, ["POST", run_path, True]) == 201

    page.click("#logout")
    page.wait_for_url("**/login")
    names = {cookie["name"] for cookie in page.context.cookies()}
    assert "xene_session" not in names
    assert page.evaluate(FETCH, ["GET", "/api/v1/workflows", False]) == 401
    page.goto(f"{url}/")
    page.wait_for_url("**/login?next=%2F")
