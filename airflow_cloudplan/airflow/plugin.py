"""The Airflow plugin registered through the ``airflow.plugins`` entry point.

It adds the plan review UI to Airflow 3's api-server: a FastAPI sub-app mounted at
``/cloudplan`` (``fastapi_apps``) and a "Cloudplan" entry in the UI's *Browse* menu that
shows the app inside the Airflow UI (``external_views`` with a ``url_route``).

Every Airflow process loads plugins (scheduler, DAG processor, workers, the CLI), but only
the api-server serves the app. Building it imports FastAPI and Airflow's auth stack —
seconds on a busy machine — so the plugin registers :class:`LazyReviewApp`, an ASGI app
that builds the real one on its first request. Loading the plugin stays cheap everywhere.

Airflow's plugin endpoint validates each entry; one invalid ``external_views`` entry makes
it drop the whole plugin silently, so ``tests/airflow/test_plugin.py`` validates these
entries with Airflow's own response models.
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from airflow.plugins_manager import AirflowPlugin

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

URL_PREFIX = "/cloudplan"


class LazyReviewApp:
    """An ASGI app that builds the review app (``ui.app.create_app``) on first use."""

    def __init__(self) -> None:
        self._app: Any = None
        self._lock = threading.Lock()

    def get(self) -> Any:
        """The review app, built once."""
        if self._app is None:
            with self._lock:
                if self._app is None:
                    from airflow_cloudplan.airflow.ui.app import create_app

                    self._app = create_app()
        return self._app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Delegate to the real app."""
        await self.get()(scope, receive, send)


review_app = LazyReviewApp()


class CloudplanPlugin(AirflowPlugin):
    """Registers cloudplan's plan review UI with Airflow."""

    name = "cloudplan"
    fastapi_apps = [
        {"app": review_app, "url_prefix": URL_PREFIX, "name": "Cloudplan plan review"},
    ]
    external_views = [
        {
            "name": "Cloudplan",
            "href": f"{URL_PREFIX}/",
            "destination": "nav",
            "category": "browse",
            "url_route": "cloudplan",
        },
    ]
