"""Data access by URI scheme: served by the right store, refused clearly, audited truly."""

from __future__ import annotations

import inspect
import os
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_cloudplan.errors import SpecError
from airflow_cloudplan.runtime.access import DataAccess, RunRef
from airflow_cloudplan.runtime.audit import JsonlAuditStore
from airflow_cloudplan.runtime.declaration import (
    DeclaredDataset,
    StageDeclaration,
    declared_datasets,
)
from airflow_cloudplan.runtime.schemes import (
    UnsupportedSchemeError,
    require_servable,
    scheme_of,
    supported_schemes,
)
from airflow_cloudplan.runtime.storage import StoreRouter


@pytest.mark.parametrize(("uri", "scheme"), [
    ("s3://lake/raw", "s3"), ("file:///tmp/x", "file"), ("/tmp/x", ""), ("data/x", ""),
    ("gs://bucket/reports/", "gs"), ("ABFS://c@acct/x", "abfs"), ("gs:/bucket", "gs"),
])
def test_scheme_of(uri: str, scheme: str) -> None:
    assert scheme_of(uri) == scheme


def test_an_unknown_scheme_is_a_declaration_error_naming_dataset_and_schemes() -> None:
    with pytest.raises(SpecError) as err:
        declared_datasets({"reports": "hdfs://cluster/reports/"}, where="export.writes")
    text = str(err.value)
    assert "dataset 'reports'" in text and "'hdfs://'" in text
    assert all(f"{s}://" in text for s in supported_schemes())
    assert "export.writes" in text


def test_templated_uris_are_checked_once_rendered() -> None:
    (ds,) = declared_datasets({"raw": "{{ params.root }}/raw"}, where="t.reads")
    with pytest.raises(ValueError, match="unsupported scheme 'ftp://'"):
        StageDeclaration(pipeline="p", stage="t", kind="ingest",
                         reads=(ds.model_copy(update={"uri": "ftp://host/raw"}),))


def _access(tmp_path: Path, uri: str, stores: StoreRouter | None = None) -> DataAccess:
    decl = StageDeclaration(pipeline="p", stage="export", kind="transform",
                            writes=(DeclaredDataset(name="reports", uri=uri),),
                            reads=(DeclaredDataset(name="reports", uri=uri),))
    return DataAccess(decl, RunRef("dag", "export", "run-1"), identity="local:test",
                      audit=JsonlAuditStore(tmp_path / "audit.jsonl"), stores=stores)


def test_gs_without_gcsfs_is_refused_with_the_package_to_install(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("fsspec")
    try:
        import gcsfs  # noqa: F401
        pytest.skip("gcsfs is installed here")
    except ImportError:
        pass
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UnsupportedSchemeError) as err:
        require_servable({"reports": "gs://bucket/reports/"})
    assert "gcsfs" in str(err.value) and "dataset 'reports'" in str(err.value)
    access = _access(tmp_path, "gs://bucket/reports/")
    with pytest.raises(UnsupportedSchemeError):
        access.write_bytes("reports", "out.txt", b"x")
    assert not (tmp_path / "gs:").exists()
    assert [r.outcome.value for r in JsonlAuditStore(tmp_path / "audit.jsonl").records()] == []


@pytest.fixture
def gs_through_fsspec() -> Iterator[Any]:
    """An fsspec filesystem registered for ``gs`` (the role gcsfs plays in production)."""
    import fsspec
    from fsspec.implementations.memory import MemoryFileSystem

    class Bucket(MemoryFileSystem):
        protocol = ("gs", "gcs")
        store: dict[str, Any] = {}
        pseudo_dirs = [""]

    fsspec.register_implementation("gs", Bucket, clobber=True)
    try:
        yield Bucket()
    finally:
        from fsspec.registry import _registry

        _registry.pop("gs", None)


def test_gs_goes_through_fsspec_and_the_audit_names_the_object_written(
        tmp_path: Path, gs_through_fsspec: Any) -> None:
    access = _access(tmp_path, "gs://bucket/reports/", StoreRouter())
    uri = access.write_bytes("reports", "day=1/out.txt", b"hello")
    assert uri == "gs://bucket/reports/day=1/out.txt"
    assert gs_through_fsspec.cat_file("/bucket/reports/day=1/out.txt") == b"hello"
    assert access.read_bytes("reports", "day=1/out.txt") == b"hello"
    assert access.list_keys("reports") == ["day=1/out.txt"]
    (write, read, listed) = JsonlAuditStore(tmp_path / "audit.jsonl").records()
    assert write.uri == "gs://bucket/reports/day=1/out.txt" and read.uri == write.uri
    assert listed.uri == "gs://bucket/reports/"


def test_relative_local_datasets_are_audited_at_their_absolute_location(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for uri, expected in (("out/reports", str(tmp_path / "out" / "reports" / "a.txt")),
                          ("file://out2/reports",
                           f"file://{tmp_path / 'out2' / 'reports' / 'a.txt'}")):
        access = _access(tmp_path, uri)
        assert access.write_bytes("reports", "a.txt", b"1") == expected
        assert JsonlAuditStore(tmp_path / "audit.jsonl").records()[-1].uri == expected
    assert (tmp_path / "out" / "reports" / "a.txt").read_bytes() == b"1"
    assert os.path.isabs(JsonlAuditStore(tmp_path / "audit.jsonl").records()[0].uri)


def test_write_frame_takes_the_key_before_the_data_and_still_accepts_the_old_order(
        tmp_path: Path) -> None:
    import pandas as pd

    access = _access(tmp_path, str(tmp_path / "reports"))
    frame = pd.DataFrame({"a": [1, 2]})
    assert access.write_frame("reports", "new.csv", frame).endswith("reports/new.csv")
    assert access.write_frame("reports", frame=frame).endswith("reports/data.csv")
    with pytest.warns(DeprecationWarning, match=r"write_frame\(dataset, key, frame\)"):
        old = access.write_frame("reports", frame, key="old.csv")
    assert old.endswith("reports/old.csv")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert access.read_frame("reports", "old.csv")["a"].tolist() == [1, 2]
    assert access.meter.rows_written == 6
    with pytest.raises(TypeError, match=r"write_frame\(dataset, key, frame\)"):
        access.write_frame("reports", "only-a-key.csv")


def _documented(signature: inspect.Signature) -> str:
    """A signature as docs/operators.md writes it (no self, string annotations bare)."""
    parts: list[str] = []
    star = False
    for p in signature.parameters.values():
        if p.name == "self":
            continue
        if p.kind is p.KEYWORD_ONLY and not star:
            parts.append("*")
            star = True
        text = f"{p.name}: {p.annotation}"
        if p.default is not p.empty:
            text += " = " + (f'"{p.default}"' if isinstance(p.default, str) else str(p.default))
        parts.append(text)
    return f"({', '.join(parts)}) -> {signature.return_annotation}"


def test_docs_list_every_data_access_helper_with_its_signature() -> None:
    import typing

    from tests.conftest import REPO

    doc = (REPO / "docs" / "operators.md").read_text()
    block = doc.split("takes the key before\nthe data:\n\n```python\n", 1)[1].split("```")[0]
    documented = {line.split("  #")[0].strip() for line in block.splitlines() if line}
    public = [n for n in vars(DataAccess) if not n.startswith("_") and n != "observe"
              and callable(getattr(DataAccess, n))]
    expected = set()
    for name in public:
        fn = getattr(DataAccess, name)
        variants = typing.get_overloads(fn) or [fn]
        expected.update(f"{name}{_documented(inspect.signature(v))}" for v in variants)
    assert documented == expected
