"""The review page in a real browser against a real ``airflow api-server``.

Debian's headless Chromium (never a downloaded browser) driven by Playwright; the
api-server runs in a subprocess with its own AIRFLOW_HOME (SQLite, migrated), the simple
auth manager with a passwords file, and a plan store holding two versions of a pipeline
(the older one active). The test logs in through Airflow's login page, opens the plan,
checks what a reviewer must see, and takes the screenshot used in docs/airflow.md
(written to docs/img/review-page.png when CLOUDPLAN_UPDATE_DOCS=1).
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.airflow.test_plugin import make_store
from tests.conftest import REPO, free_port

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]

pytestmark = [pytest.mark.airflow, pytest.mark.browser, pytest.mark.slow]


def require_chromium() -> None:
    if not CHROMIUM.exists():
        message = (f"{CHROMIUM} is missing: apt-get install -y chromium chromium-driver "
                   "(.ci/run installs it)")
        if os.environ.get("CLOUDPLAN_REQUIRE_TOOLS") == "1":
            pytest.fail(message)
        pytest.skip(message)


@dataclass
class Server:
    base: str
    user: str
    password: str
    new_version: str
    old_version: str
    log: Path


def _wait_healthy(base: str, proc: subprocess.Popen[bytes], log: Path, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"airflow api-server exited ({proc.returncode}):\n"
                        f"{log.read_text()[-4000:]}")
        try:
            with urllib.request.urlopen(f"{base}/api/v2/monitor/health", timeout=5) as r:
                if r.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(1)
    pytest.fail(f"airflow api-server not healthy after {timeout_s:.0f} s:\n"
                f"{log.read_text()[-4000:]}")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    require_chromium()
    home = tmp_path_factory.mktemp("ui-airflow-home")
    dags = home / "dags"
    dags.mkdir()
    # the default [cloudplan] plan_store: cloudplan/plans under AIRFLOW_HOME
    _, old_v, new_v = make_store(home / "cloudplan" / "plans")
    password = secrets.token_urlsafe(12)
    (home / "passwords.json").write_text(json.dumps({"reviewer": password}))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update({
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "reviewer:viewer",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
        "AIRFLOW__API__BASE_URL": base,
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
        "NO_PROXY": "*",
    })
    airflow = str(Path(sys.executable).with_name("airflow"))
    subprocess.run([airflow, "db", "migrate"], env=env, check=True, capture_output=True,
                   timeout=600)
    log = home / "api-server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([airflow, "api-server", "--host", "127.0.0.1", "--port",
                                 str(port)], env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True, cwd=home)
    try:
        _wait_healthy(base, proc, log, timeout_s=240)
        yield Server(base, "reviewer", password, new_v, old_v, log)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


def login(page: Any, server: Server) -> None:
    """Log in through Airflow's own login page (simple auth manager)."""
    page.goto(f"{server.base}/auth/login/", wait_until="networkidle")
    page.get_by_label("Username").fill(server.user)
    page.get_by_label("Password").fill(server.password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/auth/login" not in url, timeout=60_000)


def full_page_screenshot(page: Any, path: Path, width: int = 1280) -> None:
    """Screenshot of the whole page (resize the viewport: Debian's Chromium hangs on the
    protocol's full-page capture)."""
    height = page.evaluate("document.documentElement.scrollHeight")
    page.set_viewport_size({"width": width, "height": int(height)})
    page.screenshot(path=str(path))


def test_anonymous_browser_gets_no_plans(server: Server, browser: Any) -> None:
    page = browser.new_page()
    response = page.goto(f"{server.base}/cloudplan/plans/{server.new_version}")
    assert response is not None and response.status == 401
    assert "example_ml_pipeline" not in page.content()
    page.close()


def test_reviewer_sees_frontier_recommendation_and_diff(server: Server, browser: Any,
                                                       tmp_path: Path) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    csp_violations: list[str] = []
    page.on("console", lambda m: csp_violations.append(m.text)
            if "Content Security Policy" in m.text else None)
    login(page, server)

    response = page.goto(f"{server.base}/cloudplan/plans/{server.new_version}",
                         wait_until="networkidle")
    assert response is not None and response.status == 200
    assert "default-src 'none'" in response.headers["content-security-policy"]

    frontier = page.locator("#frontier svg")
    assert frontier.is_visible()
    assert frontier.bounding_box()["width"] > 400  # laid out, not collapsed
    assert page.locator("#frontier svg text[font-weight=bold]", has_text="recommended").is_visible()
    assert page.locator("#frontier svg circle").count() >= 7

    rec = page.locator("#row-recommended")
    assert rec.is_visible()
    assert "$19,950" in rec.inner_text() and "+7.2 %" in rec.inner_text()
    assert page.locator("#row-compared").is_visible()

    diff = page.locator("#diff table")
    assert diff.is_visible()
    after = page.locator("#diff td.after").all_inner_texts()
    assert "us-east-1" in after and "predictive" in after
    # the stylesheet loaded under the CSP: changed values are highlighted
    colour = page.locator("#diff td.after").first.evaluate(
        "e => getComputedStyle(e).backgroundColor")
    assert colour == "rgb(255, 243, 191)"
    assert csp_violations == []

    shot = (REPO / "docs" / "img" / "review-page.png"
            if os.environ.get("CLOUDPLAN_UPDATE_DOCS") == "1" else tmp_path / "review-page.png")
    full_page_screenshot(page, shot)
    assert shot.stat().st_size > 20_000

    page.goto(f"{server.base}/cloudplan/plans/{server.new_version}/artifacts/runbook.md")
    assert "cloudplan rollback" in page.locator("#artifact").inner_text()
    context.close()


def test_plugin_appears_in_airflow_navigation(server: Server, browser: Any) -> None:
    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    login(page, server)
    page.goto(f"{server.base}/", wait_until="networkidle")
    page.get_by_role("button", name="Browse").click()
    entry = page.get_by_role("menuitem", name="Cloudplan")
    expect(entry).to_be_visible(timeout=30_000)
    entry.click()
    page.wait_for_url("**/plugin/cloudplan", timeout=30_000)
    frame = page.frame_locator("iframe")
    expect(frame.locator("#pipeline-example_ml_pipeline")).to_be_visible(timeout=30_000)
    context.close()
