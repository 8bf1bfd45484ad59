"""The plan review UI: a FastAPI sub-app mounted by Airflow's api-server at ``/cloudplan``.

Importing this package is cheap; :func:`airflow_cloudplan.airflow.ui.app.create_app`
(which pulls in FastAPI and Airflow's auth stack) runs only when the api-server first
routes a request to the app — see :mod:`airflow_cloudplan.airflow.plugin`.
"""
