"""Audit hooks: the spec covers every audited location, and applies to moto and verifies."""

from __future__ import annotations

import json

import pytest

from airflow_cloudplan.model import Catalog, PlanningInput, PlanResult
from airflow_cloudplan.runops import apply_audit_hooks, probe_object_lock, render
from tests.runops.conftest import EXAMPLES, example_input, hand_plan


def _spec(plan: PlanResult, inp: PlanningInput) -> dict:  # type: ignore[type-arg]
    _, artifacts = render(plan, inp, plan_version="v")
    return json.loads(next(a for a in artifacts if a.path == "audit/hooks.json").content)


def test_spec_covers_datasets_and_the_plans_cache(
    golden_plan: PlanResult, golden_input: PlanningInput
) -> None:
    spec = _spec(golden_plan, golden_input)
    uris = {a["uri"] for a in spec["audited"]}
    # raw and features are confidential (audited); the model is declared internal but is
    # trained on confidential features, so by lineage it is audited too; serve reads
    # features and the model through replicas in eu-central-1, and train keeps checkpoints:
    # every one of those places is audited
    assert uris == {"s3://golden-raw/events/", "s3://golden-lake/features/",
                    "s3://golden-models/ctr/",
                    "s3://golden-lake-replica-eu-central-1/features/",
                    "s3://golden-models-replica-eu-central-1/ctr/",
                    "s3://cloudplan-golden-ml-eu-west-1/checkpoints/train/"}
    selector = spec["trail"]["advanced_event_selectors"][0]["FieldSelectors"]
    assert {"Field": "eventCategory", "Equals": ["Data"]} in selector
    arns = next(f["StartsWith"] for f in selector if f["Field"] == "resources.ARN")
    assert "arn:aws:s3:::golden-lake/features/" in arns
    buckets = {b["name"]: b for b in spec["audit_buckets"]}
    # access logs must land in the source bucket's region: one audit bucket per region
    assert {b["region"] for b in buckets.values()} == {"eu-west-1", "eu-central-1"}
    assert all(b["object_lock"] == {"mode": "COMPLIANCE", "days": 365}
               for b in buckets.values())
    for entry in spec["access_logging"]:
        assert buckets[entry["target_bucket"]]["region"] == entry["region"]


def _apply_and_verify(spec: dict) -> None:  # type: ignore[type-arg]
    import boto3
    from botocore.exceptions import ClientError
    from moto import mock_aws

    with mock_aws():
        session = boto3.Session(region_name="us-east-1", aws_access_key_id="testing",
                                aws_secret_access_key="testing")
        for entry in spec["access_logging"]:
            s3 = session.client("s3", region_name=entry["region"])
            kwargs = {} if entry["region"] == "us-east-1" else {
                "CreateBucketConfiguration": {"LocationConstraint": entry["region"]}}
            s3.create_bucket(Bucket=entry["bucket"], **kwargs)
        report = apply_audit_hooks(spec, session)
        assert report.ok, report.failures()
        names = {c.name.split(":")[0] for c in report.checks}
        assert {"object-lock", "versioning", "access-logging", "trail-selectors", "trail",
                "trail-logging"} <= names
        # applying twice is idempotent
        assert apply_audit_hooks(spec, session).ok
        primary = spec["trail"]["s3_bucket"]
        region = next(b["region"] for b in spec["audit_buckets"] if b["name"] == primary)
        probe = probe_object_lock(session, primary, region)
        assert probe.ok, probe.detail
        # and directly: the locked version is still there after the refused delete
        s3 = session.client("s3", region_name=region)
        versions = s3.list_object_versions(Bucket=primary, Prefix="cloudplan-lock-probe")
        version = versions["Versions"][0]["VersionId"]
        with pytest.raises(ClientError) as refused:
            s3.delete_object(Bucket=primary, Key="cloudplan-lock-probe", VersionId=version)
        assert refused.value.response["Error"]["Code"] == "AccessDenied"
        policy = json.loads(s3.get_bucket_policy(Bucket=primary)["Policy"])
        assert "${account_id}" not in json.dumps(policy)


def test_golden_hooks_apply_to_moto(golden_plan: PlanResult, golden_input: PlanningInput) -> None:
    _apply_and_verify(_spec(golden_plan, golden_input))


@pytest.mark.parametrize("example", EXAMPLES)
def test_example_hooks_apply_to_moto(example: str, catalog: Catalog) -> None:
    inp = example_input(example, catalog)
    _apply_and_verify(_spec(hand_plan(inp), inp))


def test_reapplying_restores_tampered_trail_selectors(
    golden_plan: PlanResult, golden_input: PlanningInput
) -> None:
    """Someone points the trail at other prefixes; applying again restores and verifies."""
    import boto3
    from moto import mock_aws

    spec = _spec(golden_plan, golden_input)
    with mock_aws():
        session = boto3.Session(region_name="us-east-1", aws_access_key_id="testing",
                                aws_secret_access_key="testing")
        for entry in spec["access_logging"]:
            session.client("s3", region_name=entry["region"]).create_bucket(
                Bucket=entry["bucket"],
                CreateBucketConfiguration={"LocationConstraint": entry["region"]})
        apply_audit_hooks(spec, session)
        trail = spec["trail"]
        ct = session.client("cloudtrail", region_name=trail["home_region"])
        ct.put_event_selectors(TrailName=trail["name"], AdvancedEventSelectors=[{
            "Name": "other", "FieldSelectors": [
                {"Field": "eventCategory", "Equals": ["Data"]},
                {"Field": "resources.type", "Equals": ["AWS::S3::Object"]},
                {"Field": "resources.ARN", "StartsWith": ["arn:aws:s3:::elsewhere/"]}]}])
        from airflow_cloudplan.runops.audit import AuditApplyReport, _apply_trail

        report = AuditApplyReport()
        got = ct.get_event_selectors(TrailName=trail["name"])["AdvancedEventSelectors"]
        assert got[0]["Name"] == "other"
        _apply_trail(session, trail, report)
        assert report.ok, report.failures()
        got = ct.get_event_selectors(TrailName=trail["name"])["AdvancedEventSelectors"]
        assert got[0]["Name"] == trail["advanced_event_selectors"][0]["Name"]
