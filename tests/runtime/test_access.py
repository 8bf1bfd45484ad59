from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from airflow_cloudplan.model.plan import AccessStrategy
from airflow_cloudplan.model.workload import Archetype
from airflow_cloudplan.runtime.access import (
    AccessPlan,
    DataAccess,
    IOMeter,
    RunRef,
    UndeclaredAccessError,
)
from airflow_cloudplan.runtime.audit import AccessAction, AccessOutcome, JsonlAuditStore
from airflow_cloudplan.runtime.declaration import StageDeclaration


def _seed(tmp_path: Path, key: str = "part-0.csv", body: bytes = b"a,b\n1,2\n3,4\n") -> Path:
    path = tmp_path / "data" / "raw" / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(body)
    return path


def test_declared_read_write_list_are_audited_and_measured(
    tmp_path: Path, data_access: DataAccess, audit_store: JsonlAuditStore
) -> None:
    _seed(tmp_path)
    frame = data_access.read_frame("raw", "part-0.csv")
    data_access.write_frame("clean", "data.csv", frame)
    assert data_access.list_keys("raw") == ["part-0.csv"]

    assert (tmp_path / "data" / "clean" / "data.csv").read_text().startswith("a,b")
    m = data_access.meter
    assert (m.rows_read, m.rows_written, m.read_ops, m.write_ops, m.list_ops) == (2, 2, 1, 1, 1)
    assert m.bytes_read == len(b"a,b\n1,2\n3,4\n") and m.bytes_written > 0
    records = audit_store.records()
    assert [(r.action, r.dataset, r.target, r.outcome) for r in records] == [
        (AccessAction.READ, "raw", "object", AccessOutcome.ALLOWED),
        (AccessAction.WRITE, "clean", "object", AccessOutcome.ALLOWED),
        (AccessAction.LIST, "raw", "prefix", AccessOutcome.ALLOWED),
    ]
    assert all(r.identity == "local:test" and r.run_id == "run-1" for r in records)
    assert records[0].uri.endswith("raw/part-0.csv") and records[0].bytes == m.bytes_read


@pytest.mark.parametrize(
    ("call", "needle"),
    [
        (lambda d: d.read_bytes("secrets", "x"), "not declared in the stage's reads"),
        (lambda d: d.write_bytes("raw", "x", b"1"), "not declared in the stage's writes"),
        (lambda d: d.read_bytes("clean", "x"), "not declared in the stage's reads"),
        (lambda d: d.list_keys("secrets"), "not declared in the stage's reads"),
        (lambda d: d.read_bytes("raw", "../clean/data.csv"), "escapes the dataset's prefix"),
        (lambda d: d.read_bytes("raw", "/etc/passwd"), "escapes the dataset's prefix"),
    ],
)
def test_undeclared_access_is_refused_and_audited(
    data_access: DataAccess, audit_store: JsonlAuditStore, call, needle: str
) -> None:
    with pytest.raises(UndeclaredAccessError) as err:
        call(data_access)
    assert needle in str(err.value)
    assert "demo.transform" in str(err.value)
    (record,) = audit_store.records()
    assert record.outcome is AccessOutcome.REFUSED and needle in (record.reason or "")


def test_refusal_suggests_the_declared_name(data_access: DataAccess) -> None:
    with pytest.raises(UndeclaredAccessError, match="did you mean 'raw'"):
        data_access.read_bytes("raws", "x")


def _access(declaration: StageDeclaration, audit: JsonlAuditStore, plan: AccessPlan) -> DataAccess:
    return DataAccess(declaration, RunRef("d", "t", "r"), identity="i", audit=audit, plan=plan)


def test_regional_cache_serves_fresh_copies_and_refetches_expired(
    tmp_path: Path, declaration: StageDeclaration, audit_store: JsonlAuditStore
) -> None:
    _seed(tmp_path, body=b"v1")
    plan = AccessPlan(AccessStrategy.REGIONAL_CACHE, region="eu-west-1",
                      cache_root=str(tmp_path / "cache"), cache_ttl_s=60)
    access = _access(declaration, audit_store, plan)
    assert access.read_bytes("raw", "part-0.csv") == b"v1"
    cached = tmp_path / "cache" / "eu-west-1" / "raw" / "part-0.csv"
    assert cached.read_bytes() == b"v1"
    _seed(tmp_path, body=b"v2")
    assert access.read_bytes("raw", "part-0.csv") == b"v1"  # fresh cache copy
    old = time.time() - 120
    os.utime(cached, (old, old))
    assert access.read_bytes("raw", "part-0.csv") == b"v2"  # expired: refetched
    assert [r.via for r in audit_store.records()] == ["primary", "cache", "primary"]
    assert access.meter.cache_hits == 1


def test_selective_replication_fills_and_prefers_the_replica(
    tmp_path: Path, declaration: StageDeclaration, audit_store: JsonlAuditStore
) -> None:
    _seed(tmp_path, body=b"r")
    plan = AccessPlan(AccessStrategy.SELECTIVE_REPLICATION, region="us-west-2",
                      replica_root=str(tmp_path / "replicas"))
    access = _access(declaration, audit_store, plan)
    access.read_bytes("raw", "part-0.csv")
    access.read_bytes("raw", "part-0.csv")
    assert (tmp_path / "replicas" / "us-west-2" / "raw" / "part-0.csv").read_bytes() == b"r"
    assert [r.via for r in audit_store.records()] == ["primary", "replica"]


def test_partitioned_locality_confines_the_stage_to_its_partition(
    tmp_path: Path, declaration: StageDeclaration, audit_store: JsonlAuditStore
) -> None:
    _seed(tmp_path, key="region=eu-west-1/p.csv", body=b"eu")
    _seed(tmp_path, key="region=us-east-1/p.csv", body=b"us")
    plan = AccessPlan(AccessStrategy.PARTITIONED_LOCALITY, region="eu-west-1")
    access = _access(declaration, audit_store, plan)
    assert access.read_bytes("raw", "p.csv") == b"eu"
    assert access.list_keys("raw") == ["p.csv"]
    access.write_bytes("clean", "out.bin", b"x")
    assert (tmp_path / "data" / "clean" / "region=eu-west-1" / "out.bin").exists()


@pytest.mark.parametrize(
    ("meter", "pattern"),
    [
        (IOMeter(), None),
        (IOMeter(bytes_read=10 << 20, read_ops=2), Archetype.LARGE_SEQUENTIAL),
        (IOMeter(bytes_read=100 * 4096, read_ops=100), Archetype.RANDOM_READ),
        (IOMeter(bytes_read=100 * 4096, read_ops=100, write_ops=50), Archetype.MIXED),
        (IOMeter(bytes_written=1000, write_ops=200), Archetype.STREAM_APPEND),
        (IOMeter(bytes_written=1 << 30, write_ops=1), Archetype.LARGE_SEQUENTIAL),
    ],
)
def test_read_pattern_classification(meter: IOMeter, pattern: Archetype | None) -> None:
    assert meter.read_pattern() is pattern


def test_s3_datasets_through_moto(tmp_path: Path, audit_store: JsonlAuditStore,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    import boto3
    from moto import mock_aws

    for k, v in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                 "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(k, v)
    from airflow_cloudplan.runtime.storage import StoreRouter

    with mock_aws():
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket="lake")
        s3.put_object(Bucket="lake", Key="raw/day=1/a.csv", Body=b"x,y\n1,2\n")
        decl = StageDeclaration(
            pipeline="demo", stage="t", kind="transform",
            reads=({"name": "raw", "uri": "s3://lake/raw"},),
            writes=({"name": "clean", "uri": "s3://lake/clean/"},),
        )
        access = DataAccess(decl, RunRef("d", "t", "r"), identity="aws:test", audit=audit_store,
                            stores=StoreRouter(lambda: boto3.client("s3")))
        assert access.list_keys("raw", "day=1") == ["day=1/a.csv"]
        frame = access.read_frame("raw", "day=1/a.csv")
        uri = access.write_frame("clean", "out.csv", frame)
        assert uri == "s3://lake/clean/out.csv"
        body = s3.get_object(Bucket="lake", Key="clean/out.csv")["Body"].read()
        assert body == b"x,y\n1,2\n"
        with pytest.raises(FileNotFoundError):
            access.read_bytes("raw", "missing.csv")
    assert [(r.uri, r.outcome) for r in audit_store.records()] == [
        ("s3://lake/raw/day=1", AccessOutcome.ALLOWED),
        ("s3://lake/raw/day=1/a.csv", AccessOutcome.ALLOWED),
        ("s3://lake/clean/out.csv", AccessOutcome.ALLOWED),
        ("s3://lake/raw/missing.csv", AccessOutcome.FAILED),
    ]


@pytest.mark.parametrize(("strategy", "via"), [
    (AccessStrategy.SELECTIVE_REPLICATION, "replica"),
    (AccessStrategy.PARTITIONED_LOCALITY, "partition"),
    (AccessStrategy.REGIONAL_CACHE, "cache"),
])
def test_the_plans_copy_location_is_where_reads_are_filled_and_served(
    tmp_path: Path, declaration: StageDeclaration, audit_store: JsonlAuditStore,
    strategy: AccessStrategy, via: str,
) -> None:
    """With ``data_copies`` from the plan, the copy lives where IAM and audit expect it."""
    _seed(tmp_path)
    planned = tmp_path / "copies" / f"raw-{via}-eu-west-1"
    plan = AccessPlan(strategy=strategy, region="eu-west-1",
                      cache_root=str(tmp_path / "cache"), replica_root=str(tmp_path / "repl"),
                      copies={"raw": str(planned)})
    access = DataAccess(declaration, RunRef("dag", "transform", "run-1"),
                        identity="local:test", audit=audit_store, plan=plan)
    assert access.read_bytes("raw", "part-0.csv") == b"a,b\n1,2\n3,4\n"  # miss: home, filled
    assert (planned / "part-0.csv").read_bytes() == b"a,b\n1,2\n3,4\n"
    assert not (tmp_path / "cache").exists() and not (tmp_path / "repl").exists()
    access.read_bytes("raw", "part-0.csv")  # hit: served by the planned copy
    uris = [(r.via, r.uri) for r in audit_store.records()]
    assert uris[-1] == (via, str(planned / "part-0.csv"))
    # the primary stays the dataset's own URI (no region=<r>/ prefix when the plan says)
    assert uris[0][1] == str(tmp_path / "data" / "raw" / "part-0.csv")
