"""Credentials and settings a stage run needs from Airflow: connection → boto3, config.

``StageCredentialsHook`` turns an AWS-style Airflow connection (login = access key id,
password = secret key, extras ``region_name``, ``endpoint_url``, ``aws_session_token``)
into a boto3 S3 client factory — the stage's *scoped* credentials. The client is built
only when a stage first touches an ``s3://`` URI, so local-only stages never look the
connection up. A missing ``aws_default`` falls back to boto3's default credential chain
(instance role, env); a missing *named* per-stage connection is an error, because a stage
that was planned to run with its own identity must not silently borrow another one.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property
from typing import Any

from airflow.sdk import BaseHook

from airflow_cloudplan.errors import CloudplanError, Problem

DEFAULT_AWS_CONN_ID = "aws_default"


class StageCredentialsError(CloudplanError):
    """The stage's connection is missing or unusable."""


class StageCredentialsHook(BaseHook):
    """Scoped credentials of one stage, from an Airflow connection."""

    conn_name_attr = "aws_conn_id"
    default_conn_name = DEFAULT_AWS_CONN_ID
    conn_type = "aws"
    hook_name = "Cloudplan stage credentials"

    def __init__(self, aws_conn_id: str = DEFAULT_AWS_CONN_ID) -> None:
        super().__init__()
        self.aws_conn_id = aws_conn_id

    @cached_property
    def client_kwargs(self) -> dict[str, Any]:
        """boto3 client arguments from the connection (empty = default credential chain)."""
        from airflow.sdk.exceptions import AirflowNotFoundException

        try:
            conn = self.get_connection(self.aws_conn_id)
        except AirflowNotFoundException as exc:
            if self.aws_conn_id == DEFAULT_AWS_CONN_ID:
                self.log.info("no %s connection; using boto3's default credentials",
                              self.aws_conn_id)
                return {}
            raise StageCredentialsError(
                f"the stage's connection {self.aws_conn_id!r} does not exist",
                [Problem(message=str(exc), path="aws_conn_id",
                         hint=f"create it (airflow connections add {self.aws_conn_id} "
                         "--conn-type aws --conn-login KEY --conn-password SECRET) or "
                         "set aws_conn_id to an existing connection")],
            ) from exc
        extra = conn.extra_dejson
        kwargs: dict[str, Any] = {}
        if conn.login:
            kwargs["aws_access_key_id"] = conn.login
        if conn.password:
            kwargs["aws_secret_access_key"] = conn.password
        if extra.get("aws_session_token"):
            kwargs["aws_session_token"] = extra["aws_session_token"]
        if extra.get("region_name"):
            kwargs["region_name"] = extra["region_name"]
        endpoint = extra.get("endpoint_url") or (conn.host or None)
        if endpoint:
            kwargs["endpoint_url"] = endpoint
        return kwargs

    def s3_client_factory(self) -> Callable[[], Any]:
        """A zero-argument factory building the S3 client on first use."""

        def factory() -> Any:
            import boto3

            return boto3.client("s3", **self.client_kwargs)

        return factory

    def identity(self) -> str:
        """Who the stage acts as, for audit records (no network call)."""
        key = self.client_kwargs.get("aws_access_key_id")
        return f"aws:{self.aws_conn_id}:{key}" if key else f"aws:{self.aws_conn_id}:default-chain"
