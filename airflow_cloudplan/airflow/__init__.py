"""Airflow glue: the only package of airflow_cloudplan that imports Airflow."""
