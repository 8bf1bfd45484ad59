"""The review plugin: loads cleanly in a real Airflow, refuses anonymous callers, and its
pages and API show the plan store's content, escaped, under a strict CSP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from airflow_cloudplan.airflow.ui.app import CSP, create_app
from airflow_cloudplan.airflow.ui.auth import require_plan_reader
from airflow_cloudplan.airflow.ui.reviews import PendingReview
from airflow_cloudplan.store import PlanStore, open_store
from tests.conftest import REPO
from tests.factories import plan_result
from tests.report.sample_plans import ml_plan, previous_ml_plan

pytestmark = pytest.mark.airflow


def make_store(root: Path) -> tuple[PlanStore, str, str]:
    """Two versions of the ML pipeline: the older one active, the newer one proposed."""
    store = open_store(root)
    old, new = previous_ml_plan(), ml_plan()
    old_v = store.put(old)
    store.activate(old.pipeline, old_v, expected=None, actor="alice")
    artifacts = root.parent / "artifacts"
    (artifacts / "iam").mkdir(parents=True)
    (artifacts / "iam" / "train.json").write_text('{"Statement": "<script>x</script>"}')
    (artifacts / "runbook.md").write_text("# Runbook\n\nRoll back with `cloudplan rollback`.\n")
    new_v = store.put(new, artifacts)
    return store, old_v, new_v


@pytest.fixture
def plans(tmp_path: Path) -> tuple[PlanStore, str, str]:
    return make_store(tmp_path / "plans")


def client_for(store: PlanStore, reviews: list[PendingReview] | None = None) -> TestClient:
    """The review app with auth overridden: only for tests of what the pages show."""
    app = create_app(lambda: store, review_lookup=lambda version: reviews or [])
    app.dependency_overrides[require_plan_reader] = lambda: None
    return TestClient(app)


# -- a real Airflow ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def probe(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    home = tmp_path_factory.mktemp("airflow-home")
    make_store(home / "plans")
    (home / "passwords.json").write_text(json.dumps({"reviewer": "s3cret-pw"}))
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update({
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "reviewer:viewer",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
        "AIRFLOW__CLOUDPLAN__PLAN_STORE": "plans",
        "AIRFLOW__API_AUTH__JWT_SECRET": "test-only-jwt-secret-of-enough-length",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "ERROR",
    })
    # token validation reads Airflow's revoked-token table: the DB must exist
    migrate = subprocess.run([str(Path(sys.executable).with_name("airflow")), "db", "migrate"],
                             check=False, env=env, capture_output=True, text=True,
                             timeout=600)
    assert migrate.returncode == 0, migrate.stderr[-3000:]
    proc = subprocess.run([sys.executable, str(Path(__file__).with_name("plugin_probe.py")),
                           "s3cret-pw"], check=False, env=env, cwd=REPO, capture_output=True,
                          text=True, timeout=300)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("PROBE ")]
    assert proc.returncode == 0 and lines, proc.stdout[-3000:] + proc.stderr[-3000:]
    return dict(json.loads(lines[-1][6:]))


def test_plugin_loads_without_errors_and_validates(probe: dict[str, Any]) -> None:
    assert probe["import_errors"] == {}
    assert probe["found"] == 1
    assert probe["valid"] is True  # an invalid entry would drop the plugin from the UI
    assert probe["fastapi_apps"] == [{"url_prefix": "/cloudplan",
                                      "name": "Cloudplan plan review"}]
    assert probe["external_views"][0]["href"] == "/cloudplan/"
    assert probe["external_views"][0]["destination"] == "nav"


def test_loading_the_plugin_does_not_build_the_app(probe: dict[str, Any]) -> None:
    assert probe["ui_app_imported_by_loading"] is False


def test_anonymous_requests_are_refused_by_the_mounted_app(probe: dict[str, Any]) -> None:
    assert set(probe["anonymous"].values()) == {401}, probe["anonymous"]
    assert probe["bad_token"] == 403
    assert probe["csp_on_refusal"] == CSP


def test_an_airflow_user_reads_the_store_configured_in_cloudplan_section(
        probe: dict[str, Any]) -> None:
    assert probe["token_status"] == 201
    assert probe["authorised"] == 200
    [pipeline] = probe["authorised_body"]["pipelines"]
    assert pipeline["pipeline"] == "example_ml_pipeline"
    assert probe["authorised_body"]["store"].endswith("plans")
    assert [v["status"] for v in pipeline["versions"]] == ["stored", "active"]


def test_airflow_plugins_command_lists_the_plugin(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update({"AIRFLOW_HOME": str(tmp_path),
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{tmp_path}/airflow.db",
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False"})
    airflow = Path(sys.executable).with_name("airflow")
    proc = subprocess.run([str(airflow), "plugins", "--output", "json"], check=False, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    start = proc.stdout.index("[")
    plugins = json.loads(proc.stdout[start:])
    [ours] = [p for p in plugins if p["name"] == "cloudplan"]
    assert ours["fastapi_apps"][0]["url_prefix"] == "/cloudplan"
    assert ours["external_views"][0]["name"] == "Cloudplan"


# -- the app's content (auth overridden) -------------------------------------------------

def test_index_lists_pipelines_versions_active_and_history(
        plans: tuple[PlanStore, str, str]) -> None:
    store, old_v, new_v = plans
    r = client_for(store).get("/")
    assert r.status_code == 200
    assert r.headers["content-security-policy"] == CSP
    html = r.text
    assert "example_ml_pipeline" in html
    assert f'href="/plans/{old_v}"' in html and f'href="/plans/{new_v}"' in html
    assert "Active plan" in html and "alice" in html
    assert html.index(new_v[:12]) < html.index(f"<code>{old_v[:12]}</code></a></td>")
    assert "History (3 events)" in html  # stored, applied, stored


def test_plan_page_shows_summary_frontier_gates_baselines_diff_and_artifacts(
        plans: tuple[PlanStore, str, str]) -> None:
    store, old_v, new_v = plans
    r = client_for(store).get(f"/plans/{new_v[:10]}")  # a prefix resolves
    assert r.status_code == 200
    html = r.text
    assert 'id="row-recommended"' in html and 'id="row-compared"' in html
    for b in ml_plan().baselines:
        assert f"baseline: {b.name}" in html
        for v in b.plan.violations:
            assert v.rule_id in html
    assert "<svg" in html and "Pareto frontier of 7 plans" in html
    assert "+7.2 %" in html  # cost of the recommendation vs the active plan
    assert "governance.residency" in html and "after governance" in html
    # the diff against the active plan: train moves from us-west-2 to us-east-1
    assert '<td class="before">us-west-2</td>' in html
    assert '<td class="after">us-east-1</td>' in html
    assert f'href="/plans/{new_v}/artifacts/iam/train.json"' in html
    assert f"active plan <a href=\"/plans/{old_v}\">" in html
    assert "No review step is waiting" in html


def test_plan_page_links_the_pending_review_step(plans: tuple[PlanStore, str, str]) -> None:
    store, _, new_v = plans
    review = PendingReview(run_id="scheduled__2026-11-28T02:00:00+00:00", map_index=-1,
                           subject="cloudplan: apply?")
    html = client_for(store, [review]).get(f"/plans/{new_v}").text
    assert ('href="/dags/cloudplan_replan/runs/scheduled__2026-11-28T02%3A00%3A00%2B00%3A00/'
            'tasks/review/required_actions"') in html


def test_active_plan_is_compared_with_the_previous_one(
        plans: tuple[PlanStore, str, str]) -> None:
    store, old_v, new_v = plans
    store.activate("example_ml_pipeline", new_v, expected=old_v)
    html = client_for(store).get(f"/plans/{new_v}").text
    assert "previously active plan" in html and "This plan is active" in html
    assert '<td class="before">us-west-2</td>' in html


def test_first_plan_without_active_has_every_field_new(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    v = store.put(plan_result())
    html = client_for(store).get(f"/plans/{v}").text
    assert "every field below is new" in html
    assert 'id="row-compared"' not in html


def test_artifact_is_shown_escaped(plans: tuple[PlanStore, str, str]) -> None:
    store, _, new_v = plans
    r = client_for(store).get(f"/plans/{new_v}/artifacts/iam/train.json")
    assert r.status_code == 200
    assert "&lt;script&gt;x&lt;/script&gt;" in r.text and "<script>" not in r.text


@pytest.mark.parametrize("path", ["../plan.json", "iam/../../plan.json", "missing.txt",
                                  "%2e%2e/plan.json"])
def test_artifact_paths_outside_the_version_are_not_found(
        plans: tuple[PlanStore, str, str], path: str) -> None:
    store, _, new_v = plans
    r = client_for(store).get(f"/plans/{new_v}/artifacts/{path}")
    assert r.status_code == 404


def test_unknown_and_malformed_versions_are_404(plans: tuple[PlanStore, str, str]) -> None:
    store, _, _ = plans
    client = client_for(store)
    unknown = client.get("/plans/ffffff00")
    assert unknown.status_code == 404 and "cloudplan plans list" in unknown.text
    assert client.get("/plans/not-a-version").status_code == 404
    assert client.get("/api/plans/ffffff00").json()["detail"].startswith("no plan version")


def test_api_returns_versions_and_plan_json(plans: tuple[PlanStore, str, str]) -> None:
    store, old_v, new_v = plans
    client = client_for(store)
    body = client.get("/api/plans").json()
    [pipeline] = body["pipelines"]
    assert pipeline["active_version"] == old_v
    assert [e["event"] for e in pipeline["history"]] == ["stored", "applied", "stored"]
    one = client.get(f"/api/plans/{new_v}").json()
    assert one["status"] == "stored" and one["artifacts"] == ["iam/train.json", "runbook.md"]
    assert one["plan"]["recommended"] == ml_plan().recommended


def test_everything_from_the_store_is_escaped(tmp_path: Path) -> None:
    evil = '<img src=x onerror="alert(1)">'
    store = open_store(tmp_path)
    plan = ml_plan().model_copy(update={"pipeline": evil, "notes": (evil,)})
    v = store.put(plan)
    client = client_for(store)
    for path in ("/", f"/plans/{v}"):
        html = client.get(path).text
        assert "<img" not in html
        assert "&lt;img src=x" in html


def test_stylesheet_is_served_for_the_csp(plans: tuple[PlanStore, str, str]) -> None:
    r = client_for(plans[0]).get("/static/review.css")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/css")


@pytest.fixture
def no_override_client(plans: tuple[PlanStore, str, str]) -> Iterator[TestClient]:
    app = create_app(lambda: plans[0], review_lookup=lambda v: [])
    yield TestClient(app)


def test_without_the_override_the_app_itself_refuses_anonymous(
        no_override_client: TestClient) -> None:
    for path in ("/", "/api/plans", "/static/review.css"):
        assert no_override_client.get(path).status_code == 401


# -- the pending-review lookup on a real metadata DB -------------------------------------

@pytest.fixture
def review_rows(airflow_db: Path) -> Iterator[dict[str, str]]:
    """Two review steps of cloudplan_replan in the test session's metadata DB: one waiting
    (its approval body names version ``abcdef123456…``), one already answered."""
    import uuid
    from datetime import UTC, datetime

    from airflow.utils.session import create_session
    from sqlalchemy import text

    now = datetime.now(UTC)
    run_ids = {"waiting": f"cp_ui_test_{uuid.uuid4().hex[:8]}",
               "answered": f"cp_ui_test_{uuid.uuid4().hex[:8]}"}
    with create_session() as s:
        for kind, run_id in run_ids.items():
            ti_id = uuid.uuid4().hex
            s.execute(text(
                "INSERT INTO dag_run (dag_id, run_id, run_type, run_after, clear_number, "
                "span_status, state) VALUES ('cloudplan_replan', :r, 'manual', :t, 0, "
                "'not_started', 'running')"), {"r": run_id, "t": now})
            s.execute(text(
                "INSERT INTO task_instance (id, task_id, dag_id, run_id, map_index, try_number, "
                "max_tries, pool, pool_slots, span_status, state) VALUES (:id, 'review', "
                "'cloudplan_replan', :r, -1, 1, 0, 'default_pool', 1, 'not_started', "
                "'deferred')"), {"id": ti_id, "r": run_id})
            s.execute(text(
                "INSERT INTO hitl_detail (ti_id, options, subject, body, params, created_at, "
                "params_input, responded_at) VALUES (:id, '[\"Approve\", \"Reject\"]', "
                "'cloudplan: apply?', :body, '{}', :t, '{}', :resp)"),
                {"id": ti_id, "t": now, "resp": now if kind == "answered" else None,
                 "body": "### Plan abcdef123456 for `example_ml_pipeline`\n..."})
    yield run_ids
    with create_session() as s:
        for run_id in run_ids.values():
            s.execute(text("DELETE FROM dag_run WHERE run_id = :r"), {"r": run_id})


def test_pending_reviews_finds_the_waiting_step_for_a_version(
        review_rows: dict[str, str]) -> None:
    from airflow_cloudplan.airflow.ui.reviews import pending_reviews

    found = [r for r in pending_reviews("abcdef123456" + "0" * 52) or []
             if r.run_id.startswith("cp_ui_test_")]
    assert [r.run_id for r in found] == [review_rows["waiting"]]
    assert found[0].path() == (f"/dags/cloudplan_replan/runs/{review_rows['waiting']}"
                               "/tasks/review/required_actions")
    other = pending_reviews("fedcba654321" + "0" * 52) or []
    assert not [r for r in other if r.run_id.startswith("cp_ui_test_")]
