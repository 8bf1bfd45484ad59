"""Credentials and settings a stage run needs from Airflow: connection → boto3, config.

``StageCredentialsHook`` turns an AWS-style Airflow connection (login = access key id,
password = secret key, extras ``region_name``, ``endpoint_url``, ``aws_session_token``,
``role_arn``) into a boto3 S3 client factory — the stage's *scoped* credentials. When a
role is known (the connection's ``role_arn`` extra, else the role the active plan binds
the task to), the connection's credentials only assume it: the data access then runs as
the stage's tagged role, which the residency guard-rail recognises (on LocalExecutor this
is how a task gets its stage identity at all). The client is built
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

    def __init__(
        self, aws_conn_id: str = DEFAULT_AWS_CONN_ID, role_arn: str | None = None,
        session_name: str = "cloudplan-stage",
    ) -> None:
        super().__init__()
        self.aws_conn_id = aws_conn_id
        self.planned_role_arn = role_arn if role_arn and "${" not in role_arn else None
        self.session_name = session_name[:64]

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
        if extra.get("role_arn"):
            kwargs["role_arn"] = extra["role_arn"]
        return kwargs

    @property
    def role_arn(self) -> str | None:
        """The role the stage's data access runs as (connection extra, else the plan's)."""
        return self.client_kwargs.get("role_arn") or self.planned_role_arn

    def _session_kwargs(self) -> dict[str, Any]:
        """Client arguments after assuming the stage role, when there is one."""
        import boto3

        kwargs = {k: v for k, v in self.client_kwargs.items() if k != "role_arn"}
        role = self.role_arn
        if role is None:
            return kwargs
        sts = boto3.client("sts", **kwargs)
        creds = sts.assume_role(RoleArn=role, RoleSessionName=self.session_name)["Credentials"]
        keep = {k: v for k, v in kwargs.items() if k in ("region_name", "endpoint_url")}
        return {**keep, "aws_access_key_id": creds["AccessKeyId"],
                "aws_secret_access_key": creds["SecretAccessKey"],
                "aws_session_token": creds["SessionToken"]}

    def s3_client_factory(self) -> Callable[[], Any]:
        """A zero-argument factory building the S3 client on first use."""

        def factory() -> Any:
            import boto3

            return boto3.client("s3", **self._session_kwargs())

        return factory

    def identity(self) -> str:
        """Who the stage acts as, for audit records (no network call)."""
        if self.role_arn is not None:
            return f"aws:{self.role_arn}"
        key = self.client_kwargs.get("aws_access_key_id")
        return f"aws:{self.aws_conn_id}:{key}" if key else f"aws:{self.aws_conn_id}:default-chain"
