"""Run in a fresh process with its own AIRFLOW_HOME: load Airflow's plugins and its real
api-server app, and report (as JSON on stdout) what a deployment would see.

Checks made here rather than in the test process because Airflow caches plugins and its
auth manager per process, and the test process has its own configuration.
"""

from __future__ import annotations

import json
import sys
import warnings


def main() -> None:
    """Print plugin info, import errors, validation and HTTP status codes as JSON."""
    from airflow import plugins_manager
    from airflow.api_fastapi.core_api.datamodels.plugins import PluginResponse

    plugins_manager.ensure_plugins_loaded()
    infos = [i for i in plugins_manager.get_plugin_info() if i["name"] == "cloudplan"]
    out: dict[str, object] = {
        "import_errors": plugins_manager.get_import_errors(),
        "found": len(infos),
        "fastapi_apps": [{k: v for k, v in d.items() if k != "app"}
                         for d in (infos[0]["fastapi_apps"] if infos else [])],
        "external_views": infos[0]["external_views"] if infos else [],
    }
    try:  # exactly what GET /api/v2/plugins does with each plugin
        PluginResponse.model_validate(dict(infos[0]))
        out["valid"] = True
    except Exception as exc:  # report, don't crash: the test prints it
        out["valid"] = f"{type(exc).__name__}: {exc}"
    out["ui_app_imported_by_loading"] = "airflow_cloudplan.airflow.ui.app" in sys.modules

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient

    from airflow.api_fastapi.app import create_app

    password = sys.argv[1]
    with TestClient(create_app()) as client:
        out["anonymous"] = {p: client.get(p).status_code
                            for p in ("/cloudplan/", "/cloudplan/api/plans",
                                      "/cloudplan/plans/abcdef",
                                      "/cloudplan/static/review.css")}
        bad = client.get("/cloudplan/api/plans", headers={"Authorization": "Bearer nonsense"})
        out["bad_token"] = bad.status_code
        out["csp_on_refusal"] = bad.headers.get("content-security-policy")
        token = client.post("/auth/token", json={"username": "reviewer", "password": password})
        out["token_status"] = token.status_code
        good = client.get("/cloudplan/api/plans",
                          headers={"Authorization": f"Bearer {token.json()['access_token']}"})
        out["authorised"] = good.status_code
        out["authorised_body"] = good.json()
    print("PROBE " + json.dumps(out))


if __name__ == "__main__":
    main()
