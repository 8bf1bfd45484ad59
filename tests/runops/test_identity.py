"""Identities that enforce residency, proven against moto with IAM enforcement on.

moto evaluates identity policies (Action, Resource and ``StringEquals`` conditions) but
not service control policies, and it ignores condition operators it does not implement
(``StringNotEquals`` among them). So:

* the stage roles are exercised for real: each role is created from its composed
  document, assumed through STS, and must reach every one of its own data locations and
  none of the other stages' (replicas, partitions and checkpoints included);
* the fail-closed guard-rail statement is attached to an untagged principal as an
  identity policy, where a ``Deny`` has the same effect as in an SCP; moto ignoring its
  ``StringNotEquals`` tag condition makes the deny apply — which is exactly AWS's answer
  for a principal *without* the tag (a missing key satisfies ``StringNotEquals``). That a
  *tagged* role is not denied rests on the condition naming the tag the role carries,
  checked structurally here.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

import pytest

from airflow_cloudplan.dataflow.locations import DataLocation, split_s3, stage_locations
from airflow_cloudplan.model import AccessStrategy, Catalog, PlanningInput, PlanResult
from airflow_cloudplan.optimize.candidates import enumerate_options
from airflow_cloudplan.runops import render
from tests.runops.conftest import example_input, hand_plan

pytest.importorskip("policy_sentry")
ACCOUNT = "123456789012"  # moto's default account


def _pick(inp: PlanningInput, stage: str, region: str, access: AccessStrategy) -> Any:
    options = enumerate_options(inp)[stage]
    return next(o for o in options if o.region == region and o.access is access
                and o.isolation.value == "scoped")


@pytest.fixture
def regulated(catalog: Catalog) -> tuple[PlanningInput, PlanResult]:
    """The regulated example with copies: a replica, partitions and checkpoints."""
    inp = example_input("regulated_pipeline", catalog)
    overrides = {
        # bureau_reports lives in eu-west-1: transform in eu-central-1 keeps a replica
        "transform": _pick(inp, "transform", "eu-central-1",
                           AccessStrategy.SELECTIVE_REPLICATION),
        # model and features live in eu-central-1: scoring in eu-west-1 keeps partitions
        "batch_inference": _pick(inp, "batch_inference", "eu-west-1",
                                 AccessStrategy.PARTITIONED_LOCALITY),
    }
    return inp, hand_plan(inp, overrides)


def _artifacts(inp: PlanningInput, plan: PlanResult) -> dict[str, Any]:
    _, artifacts = render(plan, inp)
    return {a.path: json.loads(a.content) for a in artifacts if a.path.endswith(".json")}


def _fill(doc: Any, worker_arn: str) -> Any:
    text = json.dumps(doc).replace("${account_id}", ACCOUNT)
    return json.loads(text.replace("${airflow_worker_role_arn}", worker_arn))


def test_roles_carry_lineage_class_tags_and_bind_to_their_executor(
    regulated: tuple[PlanningInput, PlanResult],
) -> None:
    inp, plan = regulated
    docs = _artifacts(inp, plan)
    roles = {d["RoleName"]: d for p, d in docs.items() if p.startswith("iam/roles/")}
    assert set(roles) == {f"cp-regulated-credit-scoring-{s.name.replace('_', '-')}"
                          for s in inp.pipeline.stages}  # the plan is all-scoped
    train = roles["cp-regulated-credit-scoring-train"]
    tags = {t["Key"]: t["Value"] for t in train["Tags"]}
    assert tags["cloudplan-class-restricted"] == "true"
    assert tags["cloudplan-sensitivity"] == "restricted"
    settings = docs["airflow/settings.json"]
    for task in settings["tasks"]:
        role = task["role_arn"].rsplit("/", 1)[1]
        assert role in roles
        assert task["stage"] in roles[role]["Stages"]
        assert task["placement"]
        if task["executor"] == "CeleryExecutor":
            assert task["queue"].endswith(task["stage"])  # a queue per identity
            assert "CeleryWorkers" in {s["Sid"] for s in
                                       roles[role]["AssumeRolePolicyDocument"]["Statement"]}
    # the guard-rail's fail-closed statement keys on exactly the tag the roles carry
    scp = docs["iam/residency-guardrail.json"]
    deny = next(s for s in scp["Statement"] if s["Sid"] == "DenyUntaggedRestrictedData")
    assert deny["Condition"] == {"StringNotEquals": {
        "aws:PrincipalTag/cloudplan-class-restricted": "true"}}
    replica = "arn:aws:s3:::acme-credit-bureau-eu-replica-eu-central-1/reports/*"
    assert replica in deny["Resource"]


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for var, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"),
                       ("AWS_DEFAULT_REGION", "eu-central-1")):
        monkeypatch.setenv(var, value)
    yield


def _denied(call: Callable[[], object]) -> bool:
    from botocore.exceptions import ClientError

    try:
        call()
    except ClientError as exc:
        return exc.response["Error"]["Code"] in {"AccessDenied", "403"}
    return False


def _seed(objects: dict[str, tuple[str, str, str]]) -> None:
    """Every location's bucket in its region, with one probe object under its prefix."""
    import boto3
    from botocore.exceptions import ClientError

    clients: dict[str, Any] = {}
    for bucket, key, region in objects.values():
        s3 = clients.setdefault(region, boto3.client("s3", region_name=region))
        try:
            s3.create_bucket(Bucket=bucket,
                             CreateBucketConfiguration={"LocationConstraint": region})
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "BucketAlreadyOwnedByYou":
                raise
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")


def _create_roles(docs: dict[str, Any]) -> tuple[dict[str, str], dict[str, str]]:
    """The composed roles in moto, assumable by a worker user; (stage -> role ARN, key)."""
    import boto3

    iam = boto3.client("iam", region_name="eu-central-1")
    worker = iam.create_user(UserName="airflow-worker")["User"]["Arn"]
    iam.put_user_policy(UserName="airflow-worker", PolicyName="assume", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Action": "sts:AssumeRole",
            "Resource": f"arn:aws:iam::{ACCOUNT}:role/cloudplan/*"}]}))
    key = iam.create_access_key(UserName="airflow-worker")["AccessKey"]
    # moto cannot evaluate Service/Federated principals: every role trusts the worker user
    # here, so the test exercises each role's *data* permissions (its trust is checked in
    # test_roles_carry_lineage_class_tags_and_bind_to_their_executor).
    trust = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": worker}, "Action": "sts:AssumeRole"}]}
    roles = {}
    for path, raw in docs.items():
        if not path.startswith("iam/roles/"):
            continue
        doc = _fill(raw, worker)
        iam.create_role(RoleName=doc["RoleName"], Path=doc["Path"],
                        AssumeRolePolicyDocument=json.dumps(trust), Tags=doc["Tags"])
        for name, policy in doc["InlinePolicies"].items():
            # moto treats a condition operator it lacks (Bool) as met, so the TLS-only
            # deny would refuse everything; boto3 always uses TLS, where AWS never applies it.
            sids = [s["Sid"] for s in policy["Statement"]]
            assert sids[-1] == "DenyInsecureTransport"
            moto_policy = {**policy, "Statement": policy["Statement"][:-1]}
            iam.put_role_policy(RoleName=doc["RoleName"], PolicyName=name,
                                PolicyDocument=json.dumps(moto_policy))
        roles.update(dict.fromkeys(doc["Stages"], doc["Arn"]))
    return roles, {"id": key["AccessKeyId"], "secret": key["SecretAccessKey"]}


def _check_role(creds: dict[str, str], stage: str, mine: dict[str | None, DataLocation],
                objects: dict[str, tuple[str, str, str]]) -> None:
    import boto3

    for uri, (bucket, obj, region) in objects.items():
        s3 = boto3.client("s3", region_name=region, aws_access_key_id=creds["AccessKeyId"],
                          aws_secret_access_key=creds["SecretAccessKey"],
                          aws_session_token=creds["SessionToken"])
        loc = mine.get(uri)
        can_read = not _denied(partial(s3.get_object, Bucket=bucket, Key=obj))
        can_write = not _denied(partial(s3.put_object, Bucket=bucket,
                                        Key=obj.replace("probe", stage), Body=b"y"))
        assert can_read == (loc is not None and loc.reads), (stage, uri, "read")
        assert can_write == (loc is not None and loc.writes), (stage, uri, "write")


def test_moto_each_stage_role_reaches_exactly_its_locations(
    regulated: tuple[PlanningInput, PlanResult], aws_env: None,
) -> None:
    moto = pytest.importorskip("moto")
    import boto3
    from moto.core.authorization import enable_iam_authentication

    inp, plan = regulated
    docs = _artifacts(inp, plan)
    locations = {k: stage_locations(inp, k, o)
                 for k, o in plan.recommendation.assignment.items()}
    objects: dict[str, tuple[str, str, str]] = {}  # uri -> (bucket, key, region)
    for locs in locations.values():
        for loc in locs:
            parts = split_s3(loc.uri or "")
            assert parts is not None and not parts[0].endswith("--x-s3")  # no EU cache
            objects[loc.uri or ""] = (parts[0], f"{parts[1]}/probe.bin", loc.region)
    kinds = {loc.kind.value for locs in locations.values() for loc in locs}
    assert {"replica", "partition", "checkpoint", "home"} <= kinds

    with moto.mock_aws():
        _seed(objects)
        roles, key = _create_roles(docs)
        with enable_iam_authentication():
            sts = boto3.client("sts", region_name="eu-central-1",
                               aws_access_key_id=key["id"], aws_secret_access_key=key["secret"])
            for stage, locs in locations.items():
                creds = sts.assume_role(RoleArn=roles[stage],
                                        RoleSessionName=stage)["Credentials"]
                _check_role(creds, stage, {loc.uri: loc for loc in locs}, objects)


def test_moto_an_untagged_principal_is_denied_restricted_data(
    regulated: tuple[PlanningInput, PlanResult], aws_env: None,
) -> None:
    moto = pytest.importorskip("moto")
    import boto3
    from botocore.exceptions import ClientError
    from moto.core.authorization import enable_iam_authentication

    inp, plan = regulated
    scp = _fill(_artifacts(inp, plan)["iam/residency-guardrail.json"], "")
    fail_closed = {"Version": "2012-10-17", "Statement": [
        s for s in scp["Statement"] if s["Sid"].startswith("DenyUntagged")]}
    restricted = next(s for s in fail_closed["Statement"]
                      if s["Sid"] == "DenyUntaggedRestrictedData")["Resource"]
    targets = [(a.split(":::", 1)[1].split("/", 1)[0],
                a.split(":::", 1)[1].split("/", 1)[1].removesuffix("*") + "x.bin")
               for a in restricted]

    with moto.mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        for bucket, key in [*targets, ("acme-open-data", "weather/x.bin")]:
            with contextlib.suppress(ClientError):
                s3.create_bucket(Bucket=bucket)
            s3.put_object(Bucket=bucket, Key=key, Body=b"x")
        iam = boto3.client("iam", region_name="us-east-1")
        users = {}
        for name, guarded in (("admin-untagged", True), ("admin-control", False)):
            iam.create_user(UserName=name)
            iam.put_user_policy(UserName=name, PolicyName="all", PolicyDocument=json.dumps(
                {"Version": "2012-10-17", "Statement": [
                    {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}))
            if guarded:
                iam.put_user_policy(UserName=name, PolicyName="guardrail",
                                    PolicyDocument=json.dumps(fail_closed))
            users[name] = iam.create_access_key(UserName=name)["AccessKey"]

        with enable_iam_authentication():
            def client(name: str) -> Any:
                k = users[name]
                return boto3.client("s3", region_name="us-east-1",
                                    aws_access_key_id=k["AccessKeyId"],
                                    aws_secret_access_key=k["SecretAccessKey"])

            guarded, control = client("admin-untagged"), client("admin-control")
            for bucket, key in targets:
                with pytest.raises(ClientError) as err:
                    guarded.get_object(Bucket=bucket, Key=key)
                assert err.value.response["Error"]["Code"] in {"AccessDenied", "403"}
                with pytest.raises(ClientError):
                    guarded.put_object(Bucket=bucket, Key=key, Body=b"z")
                assert control.get_object(Bucket=bucket, Key=key)["Body"].read() == b"x"
            # data of no restricted class stays reachable: the deny is scoped, not blanket
            assert guarded.get_object(Bucket="acme-open-data", Key="weather/x.bin")


def _v1pods(settings: dict[str, Any]) -> list[Any]:
    from kubernetes.client import ApiClient

    api = ApiClient()
    return [api.deserialize(json.dumps(t["executor_config"]["pod_override"]), "V1Pod",
                            "application/json")
            for t in settings["tasks"] if t["executor_config"]]


WELL_KNOWN_NODE_LABELS = {
    # Kubernetes well-known labels (kubernetes.io/docs/reference/labels-annotations-taints)
    "topology.kubernetes.io/region", "topology.kubernetes.io/zone",
    "node.kubernetes.io/instance-type", "kubernetes.io/arch", "kubernetes.io/os",
    # EKS (AWS cloud provider) and Karpenter / managed node group documented node labels
    "topology.k8s.aws/zone-id", "karpenter.sh/capacity-type", "eks.amazonaws.com/capacityType",
}


@pytest.mark.parametrize("example", ["ml_pipeline", "regulated_pipeline"])
def test_every_pod_override_is_a_v1pod_on_well_known_labels(
    example: str, catalog: Catalog,
) -> None:
    pytest.importorskip("kubernetes")
    inp = example_input(example, catalog)
    deployment = inp.pipeline.deployment.model_copy(update={
        "executor_by_tier": {"container": "KubernetesExecutor", "vm": "KubernetesExecutor"},
        "aws_account_id": ACCOUNT,
        "eks_oidc_provider": "oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE",
    })
    inp = inp.model_copy(update={"pipeline": inp.pipeline.model_copy(
        update={"deployment": deployment})})
    spot = {}
    for s in inp.pipeline.stages:
        for o in enumerate_options(inp)[s.name]:
            if o.tier == "aws-eks" and inp.catalog.price(o.instance_type, o.region) and \
                    inp.catalog.price(o.instance_type, o.region).spot_usd_per_hour:  # type: ignore[union-attr]
                spot[s.name] = o.model_copy(update={"spot": True})
                break
    docs = _artifacts(inp, hand_plan(inp, spot))
    pods = _v1pods(docs["airflow/settings.json"])
    assert pods, "the executor rule sends container and VM tiers to Kubernetes"
    accounts = {a["metadata"]["name"] for a in docs["k8s/serviceaccounts.json"]["items"]}
    saw_spot = False
    for pod in pods:
        labels = set(pod.spec.node_selector)
        affinity = pod.spec.affinity
        if affinity is not None:
            saw_spot = True
            terms = affinity.node_affinity.required_during_scheduling_ignored_during_execution
            labels |= {e.key for t in terms.node_selector_terms for e in t.match_expressions}
        assert labels <= WELL_KNOWN_NODE_LABELS, labels - WELL_KNOWN_NODE_LABELS
        assert pod.spec.service_account_name in accounts
        zone_id = pod.spec.node_selector.get("topology.k8s.aws/zone-id")
        assert zone_id is not None and "-az" in zone_id  # an AZ id, never as a zone name
        assert "topology.kubernetes.io/zone" not in pod.spec.node_selector
    assert saw_spot


def test_zone_names_from_the_deployment_become_the_zone_label(catalog: Catalog) -> None:
    pytest.importorskip("kubernetes")
    inp = example_input("ml_pipeline", catalog)
    zones = {o.zone for s in inp.pipeline.stages for o in enumerate_options(inp)[s.name]}
    names = {z: f"{catalog.region(next(r.id for r in catalog.regions if z in r.zones)).id}x"
             for z in zones}
    names = {z: n[:-1] + "a" for z, n in names.items()}  # e.g. us-east-1a
    deployment = inp.pipeline.deployment.model_copy(update={
        "executor_by_tier": {"container": "KubernetesExecutor", "vm": "KubernetesExecutor"},
        "zone_names": names})
    inp = inp.model_copy(update={"pipeline": inp.pipeline.model_copy(
        update={"deployment": deployment})})
    for pod in _v1pods(_artifacts(inp, hand_plan(inp))["airflow/settings.json"]):
        zone = pod.spec.node_selector["topology.kubernetes.io/zone"]
        region = pod.spec.node_selector["topology.kubernetes.io/region"]
        assert zone == f"{region}a"
        assert "topology.k8s.aws/zone-id" not in pod.spec.node_selector
