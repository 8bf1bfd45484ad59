"""Least-privilege IAM: generated, linted, and proven sufficient and minimal against moto."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from airflow_cloudplan.errors import GateError
from airflow_cloudplan.gates.iam import (
    GLOBAL_SERVICE_ACTIONS,
    lint_policy,
    residency_guardrail,
    s3_location,
    stage_iam_policy,
)
from airflow_cloudplan.model import Dataset, GovernancePolicy, PlanningInput

from .conftest import all_options, make_pipeline

pytest.importorskip("policy_sentry")


def _policies(inp: PlanningInput) -> dict[str, dict]:
    opts = all_options(inp)
    return {s.name: stage_iam_policy(inp, s.name, opts[s.name][0]) for s in inp.pipeline.stages}


def test_s3_location_parses_bucket_and_prefix() -> None:
    assert s3_location("s3://acme-data/models/churn/") == ("acme-data", "models/churn")
    assert s3_location("/local/path") is None


def test_policy_grants_exactly_declared_actions(
    planning_input: Callable[..., PlanningInput],
) -> None:
    doc = _policies(planning_input())["train"]  # direct access in eu-central-1
    by_sid = {st["Sid"]: st for st in doc["Statement"]}
    checkpoints = "arn:aws:s3:::cloudplan-churn-eu-central-1/checkpoints/train/*"
    assert by_sid["ReadData"]["Action"] == ["s3:GetObject"]
    assert by_sid["ReadData"]["Resource"] == ["arn:aws:s3:::acme-data/features/*", checkpoints]
    assert by_sid["WriteData"]["Action"] == ["s3:AbortMultipartUpload", "s3:PutObject"]
    assert by_sid["WriteData"]["Resource"] == [
        "arn:aws:s3:::acme-data/models/churn/*", checkpoints]
    listing = by_sid["ListPrefixes0"]
    assert listing["Resource"] == ["arn:aws:s3:::acme-data"]
    assert listing["Condition"] == {"StringLike": {"s3:prefix": [
        "features/", "features/*", "models/churn/", "models/churn/*"]}}
    tls = by_sid["DenyInsecureTransport"]
    assert tls["Effect"] == "Deny" and tls["Condition"] == {
        "Bool": {"aws:SecureTransport": "false"}}
    assert set(tls["Resource"]) >= {"arn:aws:s3:::acme-data", checkpoints}


def test_kms_and_cache_sessions_are_granted_from_the_locations(
    planning_input: Callable[..., PlanningInput],
) -> None:
    key = "arn:aws:kms:eu-central-1:111122223333:key/mrk-1234abcd"
    base = make_pipeline()
    datasets = tuple(d if d.name != "customers" else d.model_copy(update={"kms_key_arn": key})
                     for d in base.datasets)
    inp = planning_input(pipeline=make_pipeline(datasets=datasets))
    option = next(o for o in all_options(inp)["prepare"]
                  if o.region == "eu-west-1" and o.access.value == "regional_cache")
    by_sid = {st["Sid"]: st for st in stage_iam_policy(inp, "prepare", option)["Statement"]}
    # the cache of customers lives in eu-west-1: the multi-Region key's replica there
    assert by_sid["DecryptData"]["Resource"] == [
        key, key.replace("eu-central-1", "eu-west-1")]
    assert by_sid["EncryptData"]["Resource"] == [key.replace("eu-central-1", "eu-west-1")]
    sessions = by_sid["CacheSessions"]
    assert sessions["Condition"] == {"StringEquals": {"s3express:SessionMode": "ReadWrite"}}
    assert all(r.startswith("arn:aws:s3express:eu-west-1:${account_id}:bucket/")
               and r.endswith("--x-s3") for r in sessions["Resource"])
    assert lint_policy(stage_iam_policy(inp, "prepare", option)) == []


def test_every_generated_policy_passes_parliament_and_has_no_wildcards(
    planning_input: Callable[..., PlanningInput],
) -> None:
    for stage, doc in _policies(planning_input()).items():
        assert lint_policy(doc) == [], stage
        for st in doc["Statement"]:
            if st["Effect"] == "Deny":
                continue
            assert all("*" not in a for a in st["Action"])
            for res in st["Resource"]:
                assert "*" not in res or (res.endswith("/*") and "*" not in res[:-2])


def test_lint_flags_wildcards_and_escalation() -> None:
    bad = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:*", "Resource": "*"},
        {"Effect": "Allow", "Action": "iam:PassRole",
         "Resource": "arn:aws:iam::123456789012:role/admin"},
    ]}
    issues = {(f.source, f.issue) for f in lint_policy(bad)}
    assert ("parliament", "RESOURCE_STAR") in issues
    assert ("cloudplan", "WILDCARD_ACTION") in issues
    assert ("cloudplan", "WILDCARD_RESOURCE") in issues
    assert ("cloudplan", "PRIVILEGE_ESCALATION") in issues


def test_dataset_without_prefix_is_a_located_error(
    planning_input: Callable[..., PlanningInput],
) -> None:
    base = make_pipeline()
    datasets = tuple(
        d if d.name != "features" else Dataset(**{**d.model_dump(), "uri": "s3://acme-data"})
        for d in base.datasets
    )
    inp = planning_input(pipeline=make_pipeline(datasets=datasets))
    with pytest.raises(GateError) as err:
        _policies(inp)
    assert "datasets[features].uri" in err.value.render()
    assert "own prefix" in err.value.render()


def test_residency_guardrail_denies_outside_allowed_regions(
    planning_input: Callable[..., PlanningInput],
) -> None:
    classes = tuple(
        c if c.name != "restricted" else c.model_copy(update={"allowed_jurisdictions": ("eu",)})
        for c in GovernancePolicy().classes
    )
    scp = residency_guardrail(planning_input(governance=GovernancePolicy(classes=classes)))
    statement, fail_closed = scp["Statement"]
    assert statement["Effect"] == "Deny"
    assert statement["Condition"]["StringNotEquals"]["aws:RequestedRegion"] == [
        "eu-central-1", "eu-west-1"]
    assert statement["Condition"]["StringEquals"] == {
        "aws:PrincipalTag/cloudplan-class-restricted": "true"}
    # fail-closed: whoever lacks the tag is denied the restricted data itself
    assert fail_closed["Sid"] == "DenyUntaggedRestrictedData"
    assert fail_closed["Condition"] == {"StringNotEquals": {
        "aws:PrincipalTag/cloudplan-class-restricted": "true"}}
    assert fail_closed["Resource"] == ["arn:aws:s3:::acme-data/customers/*"]
    for service in ("iam:*", "organizations:*", "route53:*", "cloudfront:*", "sts:*",
                    "support:*", "budgets:*"):
        assert service in statement["NotAction"]
    assert tuple(statement["NotAction"]) == GLOBAL_SERVICE_ACTIONS


# --- moto: the policy is sufficient and minimal --------------------------------------

SETUP_CALLS = 11  # requests made before authorization is enforced (counted below)


def _setup(doc: dict) -> tuple[str, str]:
    """Buckets, seed objects and a user holding only ``doc``: exactly SETUP_CALLS requests."""
    import boto3

    s3 = boto3.client("s3", region_name="us-east-1")
    iam = boto3.client("iam", region_name="us-east-1")
    s3.create_bucket(Bucket="acme-data")                                     # 1
    s3.create_bucket(Bucket="acme-open")                                     # 2
    for key in ("features/part-0.parquet", "models/churn/old.bin",           # 3-6
                "secrets/keys.txt", "features-archive/part-0.parquet"):
        s3.put_object(Bucket="acme-data", Key=key, Body=b"x")
    s3.put_object(Bucket="acme-open", Key="weather/w.csv", Body=b"x")         # 7
    iam.create_user(UserName="stage-train")                                  # 8
    iam.put_user_policy(UserName="stage-train", PolicyName="cloudplan",      # 9
                        PolicyDocument=json.dumps(doc))
    key = iam.create_access_key(UserName="stage-train")["AccessKey"]          # 10
    s3.head_bucket(Bucket="acme-data")                                       # 11
    return key["AccessKeyId"], key["SecretAccessKey"]


def test_moto_enforces_generated_policy_as_sufficient_and_minimal(
    planning_input: Callable[..., PlanningInput], monkeypatch: pytest.MonkeyPatch,
) -> None:
    moto = pytest.importorskip("moto")
    import boto3
    from botocore.exceptions import ClientError
    from moto.core import set_initial_no_auth_action_count

    for var, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"),
                       ("AWS_DEFAULT_REGION", "us-east-1")):
        monkeypatch.setenv(var, value)
    doc = _policies(planning_input())["train"]
    # moto treats the Bool operator it lacks as met, so the TLS-only deny would refuse
    # everything; boto3 always uses TLS, where AWS never applies it
    doc = {**doc, "Statement": [s for s in doc["Statement"]
                                if s["Sid"] != "DenyInsecureTransport"]}

    @moto.mock_aws
    @set_initial_no_auth_action_count(SETUP_CALLS)
    def scenario() -> None:
        key_id, secret = _setup(doc)
        s3 = boto3.client("s3", region_name="us-east-1", aws_access_key_id=key_id,
                          aws_secret_access_key=secret)

        def denied(call: Callable[[], object]) -> bool:
            try:
                call()
            except ClientError as exc:
                return exc.response["Error"]["Code"] in {"AccessDenied", "403"}
            return False

        # sufficient: read its input, write its output, list its prefixes
        assert s3.get_object(Bucket="acme-data", Key="features/part-0.parquet")["Body"].read()
        s3.put_object(Bucket="acme-data", Key="models/churn/new.bin", Body=b"m")
        listed = s3.list_objects_v2(Bucket="acme-data", Prefix="features/")
        assert [o["Key"] for o in listed["Contents"]] == ["features/part-0.parquet"]
        # minimal: neighbouring prefixes and undeclared actions are denied
        assert denied(lambda: s3.get_object(Bucket="acme-data", Key="secrets/keys.txt"))
        assert denied(lambda: s3.get_object(
            Bucket="acme-data", Key="features-archive/part-0.parquet"))
        assert denied(lambda: s3.put_object(Bucket="acme-data", Key="features/x", Body=b"x"))
        assert denied(lambda: s3.get_object(Bucket="acme-data", Key="models/churn/old.bin"))
        assert denied(lambda: s3.delete_object(Bucket="acme-data", Key="models/churn/new.bin"))
        assert denied(lambda: s3.get_object(Bucket="acme-open", Key="weather/w.csv"))
        assert denied(lambda: s3.list_objects_v2(Bucket="acme-open"))
        assert denied(lambda: boto3.client(
            "iam", region_name="us-east-1", aws_access_key_id=key_id,
            aws_secret_access_key=secret).list_users())

    scenario()
