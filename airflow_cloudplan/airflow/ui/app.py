"""The review app: HTML pages and a JSON API over the plan store, behind Airflow's auth.

Routes (relative to the mount point, ``/cloudplan`` in Airflow):

- ``/`` — pipelines, their active versions, stored versions and history;
- ``/plans/{version}`` — one version: (C, L, R) of the recommendation against the active
  plan and the baselines, the frontier picture, gate verdicts, baseline violations, the diff
  against the active plan, artifacts, and links to the pending approval step;
- ``/plans/{version}/artifacts/{path}`` — one artifact as escaped text;
- ``/api/plans`` and ``/api/plans/{version}`` — the same data as JSON.

Every route depends on :func:`~airflow_cloudplan.airflow.ui.auth.require_plan_reader`
(Airflow mounts plugin apps without auth). Every response carries a strict
Content-Security-Policy (no scripts at all, styles only from this app, framing only by the
Airflow UI itself), and every value reaches the page through Jinja's autoescaping; the SVG
pictures are escaped when they are built.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Request, Response
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from airflow_cloudplan.airflow.ui import views
from airflow_cloudplan.airflow.ui.auth import PLANNER_DAG_ID, require_plan_reader
from airflow_cloudplan.errors import PlanStoreError
from airflow_cloudplan.store import PlanStore

MOUNT = "/cloudplan"
CSP = ("default-src 'none'; style-src 'self'; img-src 'self' data:; "
       "frame-ancestors 'self'; base-uri 'none'; form-action 'none'")
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
VERSION = re.compile(r"^[0-9a-f]{6,64}$")
STATIC = Path(__file__).with_name("static")

StoreFactory = Callable[[], PlanStore]
ReviewLookup = Callable[[str], "list[Any] | None"]


def configured_store() -> PlanStore:
    """The store named by ``[cloudplan] plan_store`` (relative paths under AIRFLOW_HOME)."""
    from airflow_cloudplan.airflow import settings as cfg
    from airflow_cloudplan.store import open_store

    return open_store(cfg.option("plan_store"), base=cfg.airflow_home())


def _environment() -> Environment:
    env = Environment(loader=PackageLoader("airflow_cloudplan.airflow.ui", "templates"),
                      autoescape=select_autoescape(default=True, default_for_string=True),
                      trim_blocks=True, lstrip_blocks=True)
    env.filters["short"] = lambda v: (v or "")[:12]
    return env


def _roots(request: Request) -> tuple[str, str]:
    """The URL prefix of this app, and of the Airflow UI (the prefix without ``/cloudplan``)."""
    root = str(request.scope.get("root_path", "")).rstrip("/")
    airflow = root[: -len(MOUNT)] if root.endswith(MOUNT) else root
    return root, airflow


def _check_version(version: str) -> None:
    if not VERSION.match(version):
        raise HTTPException(404, "a plan version is 6 to 64 lowercase hex digits")


def create_app(store_factory: StoreFactory = configured_store,
               review_lookup: ReviewLookup | None = None) -> FastAPI:
    """Build the review app (``store_factory`` and ``review_lookup`` are seams for tests)."""
    if review_lookup is None:
        from airflow_cloudplan.airflow.ui.reviews import pending_reviews

        review_lookup = pending_reviews
    lookup: ReviewLookup = review_lookup
    env = _environment()
    app = FastAPI(title="Cloudplan plan review", docs_url=None, redoc_url=None,
                  openapi_url=None, dependencies=[Depends(require_plan_reader)])

    @app.middleware("http")
    async def security_headers(request: Request,
                               call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        response = await call_next(request)
        response.headers.update(SECURITY_HEADERS)
        return response

    @app.exception_handler(PlanStoreError)
    async def store_error(request: Request, exc: PlanStoreError) -> Response:
        if "/api/" in request.url.path:
            return JSONResponse({"detail": exc.render()}, status_code=404)
        return page(request, "error.html", status_code=404, title="Plan not found",
                    message=exc.render())

    def page(request: Request, template: str, status_code: int = 200,
             **context: Any) -> HTMLResponse:
        root, airflow = _roots(request)
        html = env.get_template(template).render(root=root, airflow=airflow,
                                                 planner_dag=PLANNER_DAG_ID, **context)
        return HTMLResponse(html, status_code=status_code)

    @app.get("/", response_class=HTMLResponse)
    def index(request: Request) -> HTMLResponse:
        store = store_factory()
        return page(request, "index.html", title="Plans", pipelines=views.overview(store),
                    store_uri=store.backend.uri)

    @app.get("/plans/{version}", response_class=HTMLResponse)
    def plan(request: Request, version: str) -> HTMLResponse:
        _check_version(version)
        data = views.plan_page(store_factory(), version)
        reviews = lookup(data.version)
        return page(request, "plan.html", title=f"Plan {data.version[:12]}", p=data,
                    reviews=reviews, frontier=Markup(data.frontier_svg))

    @app.get("/plans/{version}/artifacts/{path:path}", response_class=HTMLResponse)
    def artifact(request: Request, version: str, path: str) -> HTMLResponse:
        _check_version(version)
        found = views.artifact_text(store_factory(), version, path)
        if found is None:
            raise HTTPException(404, f"plan {version[:12]} has no artifact {path!r}")
        full, content, truncated = found
        return page(request, "artifact.html", title=path, version=full, path=path,
                    content=content, truncated=truncated)

    @app.get("/api/plans")
    def api_plans() -> JSONResponse:
        store = store_factory()
        body = [{"pipeline": o.name, "active_version": o.active_version,
                 "versions": [{"version": v.version, "status": v.status,
                               "created_at": v.created_at, "frontier_points": v.points}
                              for v in o.versions],
                 "history": [e.model_dump(mode="json") for e in reversed(o.history)]}
                for o in views.overview(store)]
        return JSONResponse({"store": store.backend.uri, "pipelines": body})

    @app.get("/api/plans/{version}")
    def api_plan(version: str) -> JSONResponse:
        _check_version(version)
        store = store_factory()
        full = store.resolve(version)
        plan = store.get(full)
        pointer = store.active(plan.pipeline)
        return JSONResponse({
            "version": full,
            "status": views.version_status(store.history(plan.pipeline), full,
                                           pointer.version if pointer else None),
            "artifacts": store.artifacts(full), "plan": plan.model_dump(mode="json")})

    @app.get("/static/review.css")
    def stylesheet() -> FileResponse:
        return FileResponse(STATIC / "review.css", media_type="text/css")

    return app
