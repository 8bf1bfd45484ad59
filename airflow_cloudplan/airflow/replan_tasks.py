"""What the planning DAG's tasks do: thin glue between Airflow and the pure core.

Each function reads Airflow configuration/connections, calls one core function, and
returns JSON-able values (paths, version ids, dicts) for XCom.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from airflow_cloudplan.airflow import settings as cfg

log = logging.getLogger(__name__)


def profile_history(run_id: str) -> str | None:
    """Profile recent runs from the metadata DB; return the profiles file (None: no conn)."""
    from airflow.sdk.exceptions import AirflowNotFoundException

    from airflow_cloudplan.profile import profile_metadb

    try:
        url = cfg.sqlalchemy_url(cfg.option("metadb_conn_id"))
    except AirflowNotFoundException:
        log.warning("connection %s is not defined: planning from the declared specs only",
                    cfg.option("metadb_conn_id"))
        return None
    since = datetime.now(UTC) - timedelta(days=int(cfg.option("profile_window_days")))
    profiles = profile_metadb(url, since=since)
    out = cfg.airflow_home() / "cloudplan" / "work" / f"profiles-{_safe(run_id)}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(profiles.model_dump_json(indent=2))
    log.info("profiled %d stages into %s", len(profiles.profiles), out)
    return str(out)


def plan_all(profiles_path: str | None) -> list[dict[str, Any]]:
    """Re-plan every spec; return one proposal dict per pipeline."""
    from pathlib import Path

    from airflow_cloudplan.errors import SpecError
    from airflow_cloudplan.model.workload import ProfileSet
    from airflow_cloudplan.replan import find_specs, replan
    from airflow_cloudplan.store import open_store

    specs = find_specs(cfg.path_option("specs"))
    if not specs:
        raise SpecError(f"no pipeline specs found at {cfg.path_option('specs')}",
                        [])
    profiles = (ProfileSet.model_validate_json(Path(profiles_path).read_text())
                if profiles_path else None)
    store = open_store(cfg.option("plan_store"), base=cfg.airflow_home())
    out = []
    for spec in specs:
        proposal = replan(spec, store, profiles=profiles,
                          hysteresis=float(cfg.option("hysteresis")),
                          solver=cfg.option("solver"),
                          time_limit_s=float(cfg.option("time_limit_s")),
                          frontier_time_s=float(cfg.option("frontier_time_s")),
                          max_points=int(cfg.option("frontier_max_points")))
        log.info("%s: version %s, proposed=%s (%s)", proposal.pipeline,
                 proposal.version[:12], proposal.proposed, proposal.reason)
        out.append(proposal.model_dump(mode="json"))
    return out


def review_text(proposals: list[dict[str, Any]]) -> str:
    """The approval body: every proposed plan's summary, or why none is proposed."""
    parts = [p["summary_md"] for p in proposals if p["proposed"]]
    skipped = [f"- `{p['pipeline']}`: not proposed ({p['reason']})"
               for p in proposals if not p["proposed"]]
    if skipped:
        parts.append("**Not proposed:**\n" + "\n".join(skipped))
    return "\n\n---\n\n".join(parts)


def apply_proposals(proposals: list[dict[str, Any]], actor: str) -> list[dict[str, Any]]:
    """Apply every proposed version (each verified; a failed one is rolled back)."""
    from airflow_cloudplan.apply import apply_plan
    from airflow_cloudplan.apply.rest import AirflowApi
    from airflow_cloudplan.store import open_store

    store = open_store(cfg.option("plan_store"), base=cfg.airflow_home())
    base_url, login, password = cfg.api_credentials(cfg.option("api_conn_id"))
    api = AirflowApi(base_url, username=login, password=password)
    reports = []
    try:
        for p in proposals:
            if not p["proposed"]:
                continue
            store.record(p["pipeline"], "approved", p["version"], actor=actor)
            report = apply_plan(store, p["version"], api, cfg.path_option("plan_cache"),
                                actor=actor)
            log.info("applied %s: pools %s; unused pools %s", report.version[:12],
                     report.pools_upserted, report.pools_unused)
            reports.append(report.model_dump(mode="json"))
    finally:
        api.close()
    return reports


def record_rejection(proposals: list[dict[str, Any]], actor: str) -> None:
    """Record that a reviewer rejected the proposed versions (nothing else changes)."""
    from airflow_cloudplan.store import open_store

    store = open_store(cfg.option("plan_store"), base=cfg.airflow_home())
    for p in proposals:
        if p["proposed"]:
            store.record(p["pipeline"], "rejected", p["version"], actor=actor)


def _safe(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in text)
