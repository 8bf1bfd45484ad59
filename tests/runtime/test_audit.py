from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from airflow_cloudplan.runtime.audit import (
    AccessAction,
    AuditRecord,
    AuditStoreError,
    JsonlAuditStore,
    S3AuditStore,
    open_audit_store,
)


def _record(i: int = 0) -> AuditRecord:
    return AuditRecord(pipeline="p", stage="s", dag_id="d", task_id="t", run_id="r",
                       identity="local:x", action=AccessAction.READ, dataset="raw",
                       target="object", uri=f"/data/raw/{i}", bytes=i)


def test_jsonl_store_appends_one_json_per_line_concurrently(tmp_path: Path) -> None:
    store = JsonlAuditStore(tmp_path / "a" / "audit.jsonl")
    threads = [threading.Thread(target=lambda i=i: [store.append(_record(i * 50 + j))
                                                   for j in range(50)]) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lines = (tmp_path / "a" / "audit.jsonl").read_text().splitlines()
    assert len(lines) == 200
    assert sorted(json.loads(line)["bytes"] for line in lines) == list(range(200))
    assert len(store.records()) == 200


def test_jsonl_store_only_ever_appends(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    path.write_text('{"earlier": "line"}\n')
    JsonlAuditStore(path).append(_record())
    first, second = path.read_text().splitlines()
    assert first == '{"earlier": "line"}' and json.loads(second)["uri"] == "/data/raw/0"


def test_unwritable_jsonl_store_says_where(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(AuditStoreError, match="audit_store"):
        JsonlAuditStore(blocker / "sub" / "audit.jsonl").append(_record())


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch):
    from moto import mock_aws

    for k, v in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                 "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(k, v)
    with mock_aws():
        import boto3

        yield boto3.client("s3")


def test_s3_store_writes_one_locked_object_per_record(aws) -> None:
    aws.create_bucket(Bucket="audit", ObjectLockEnabledForBucket=True)
    store = open_audit_store("s3://audit/cloudplan", s3_client_factory=lambda: aws)
    assert isinstance(store, S3AuditStore)
    store.retention_days = 30
    records = [_record(i) for i in range(3)]
    for r in records:
        store.append(r)
    keys = [o["Key"] for o in aws.list_objects_v2(Bucket="audit")["Contents"]]
    assert len(keys) == 3 and all(k.startswith("cloudplan/") for k in keys)
    head = aws.head_object(Bucket="audit", Key=store.key_for(records[0]))
    assert head["ObjectLockMode"] == "COMPLIANCE"
    assert sorted(r.record_id for r in store.records()) == sorted(r.record_id for r in records)


def test_s3_store_never_overwrites_a_record(aws) -> None:
    from botocore.exceptions import ClientError

    aws.create_bucket(Bucket="audit", ObjectLockEnabledForBucket=True)
    store = open_audit_store("s3://audit/x", s3_client_factory=lambda: aws)
    rec = _record()
    store.append(rec)
    with pytest.raises(ClientError, match="PreconditionFailed"):
        store.append(rec)


def test_s3_store_refuses_a_bucket_without_object_lock(aws) -> None:
    aws.create_bucket(Bucket="plain")
    store = open_audit_store("s3://plain/x", s3_client_factory=lambda: aws)
    with pytest.raises(AuditStoreError, match="Object Lock"):
        store.append(_record())


def test_audit_record_round_trips() -> None:
    rec = _record(7)
    assert AuditRecord.model_validate_json(rec.model_dump_json()) == rec
    assert rec.timestamp.tzinfo is not None and rec.timestamp <= datetime.now(UTC)


def test_s3_uri_without_bucket_is_rejected() -> None:
    with pytest.raises(AuditStoreError, match="s3://<bucket>/<prefix>"):
        open_audit_store("s3:///nothing")
