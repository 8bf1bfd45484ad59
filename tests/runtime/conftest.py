"""Fixtures for the runtime core: a stage declaration and in-memory OTel providers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_cloudplan.runtime.access import DataAccess, RunRef
from airflow_cloudplan.runtime.audit import JsonlAuditStore
from airflow_cloudplan.runtime.declaration import DeclaredDataset, StageDeclaration

_MEMORY: dict[str, Any] = {}


def memory_otel() -> tuple[Any, Any]:
    """Install in-memory span exporter + metric reader as the global providers (once),
    configured as Airflow configures its own."""
    if not _MEMORY:
        from opentelemetry import metrics, trace
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import InMemoryMetricReader
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
            InMemorySpanExporter,
        )

        exporter = InMemorySpanExporter()
        # The id generator Airflow's own provider uses ([traces] otel_on), so the task
        # spans Airflow emits keep the span ids their trace carriers promised.
        try:
            from airflow._shared.observability.traces import OverrideableRandomIdGenerator

            provider = TracerProvider(id_generator=OverrideableRandomIdGenerator())
        except ImportError:
            provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        trace.set_tracer_provider(provider)
        reader = InMemoryMetricReader()
        metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
        _MEMORY.update(exporter=exporter, reader=reader)
    return _MEMORY["exporter"], _MEMORY["reader"]


@pytest.fixture
def otel() -> Iterator[tuple[Any, Any]]:
    exporter, reader = memory_otel()
    exporter.clear()
    yield exporter, reader


@pytest.fixture
def declaration(tmp_path: Path) -> StageDeclaration:
    return StageDeclaration(
        pipeline="demo",
        stage="transform",
        kind="transform",
        reads=(DeclaredDataset(name="raw", uri=str(tmp_path / "data" / "raw")),),
        writes=(DeclaredDataset(name="clean", uri=f"file://{tmp_path / 'data' / 'clean'}",
                                sensitivity="confidential"),),
    )


@pytest.fixture
def audit_store(tmp_path: Path) -> JsonlAuditStore:
    return JsonlAuditStore(tmp_path / "audit" / "audit.jsonl")


@pytest.fixture
def data_access(declaration: StageDeclaration, audit_store: JsonlAuditStore) -> DataAccess:
    return DataAccess(declaration, RunRef("dag", "transform", "run-1"), identity="local:test",
                      audit=audit_store)
