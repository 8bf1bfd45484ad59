"""The stage hook runs data access as the stage's planned role (moto, IAM enforcement on)."""

from __future__ import annotations

import json

import pytest

from airflow_cloudplan.airflow.hooks import StageCredentialsHook

pytestmark = pytest.mark.airflow


def test_the_hook_assumes_the_planned_role_and_reaches_only_its_grants(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    moto = pytest.importorskip("moto")
    import boto3
    from botocore.exceptions import ClientError
    from moto.core.authorization import enable_iam_authentication

    for var, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"),
                       ("AWS_DEFAULT_REGION", "eu-west-1")):
        monkeypatch.setenv(var, value)
    with moto.mock_aws():
        s3 = boto3.client("s3", region_name="eu-west-1")
        for bucket in ("acme-data", "acme-other"):
            s3.create_bucket(Bucket=bucket,
                             CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
            s3.put_object(Bucket=bucket, Key="raw/x.csv", Body=b"1")
        iam = boto3.client("iam", region_name="eu-west-1")
        worker = iam.create_user(UserName="worker")["User"]["Arn"]
        iam.put_user_policy(UserName="worker", PolicyName="assume", PolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [{"Effect": "Allow",
                                                    "Action": "sts:AssumeRole", "Resource": "*"}]}))
        key = iam.create_access_key(UserName="worker")["AccessKey"]
        role = iam.create_role(
            RoleName="cp-demo-transform", Path="/cloudplan/",
            AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Principal": {"AWS": worker}, "Action": "sts:AssumeRole"}]}),
        )["Role"]["Arn"]
        iam.put_role_policy(RoleName="cp-demo-transform", PolicyName="data",
                            PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [{
                                "Effect": "Allow", "Action": "s3:GetObject",
                                "Resource": "arn:aws:s3:::acme-data/raw/*"}]}))
        monkeypatch.setenv("AIRFLOW_CONN_CP_WORKER", json.dumps({
            "conn_type": "aws", "login": key["AccessKeyId"], "password": key["SecretAccessKey"],
            "extra": {"region_name": "eu-west-1"}}))
        with enable_iam_authentication():
            hook = StageCredentialsHook("cp_worker", role_arn=role, session_name="transform")
            assert hook.identity() == f"aws:{role}"
            client = hook.s3_client_factory()()
            assert client.get_object(Bucket="acme-data", Key="raw/x.csv")["Body"].read() == b"1"
            with pytest.raises(ClientError):
                client.get_object(Bucket="acme-other", Key="raw/x.csv")
            # a placeholder role (an unfilled ${account_id}) is never assumed
            assert StageCredentialsHook(
                "cp_worker", role_arn="arn:aws:iam::${account_id}:role/x").role_arn is None
