"""Every OpenSLO document validates against the OpenSLO v1 schema; names are DNS labels."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from airflow_cloudplan.model import Catalog, PlanningInput, PlanResult, Policy
from airflow_cloudplan.model.workload import Dataset, Pipeline, Stage, StageKind, StageSLO
from airflow_cloudplan.runops import render
from airflow_cloudplan.runops.slo import DNS_LABEL_MAX, dns_label, is_dns_label
from tests.runops.conftest import EXAMPLES, example_input, hand_plan

SCHEMA = json.loads((Path(__file__).parent / "fixtures" / "openslo-v1.schema.json").read_text())


def _validator() -> Any:
    from jsonschema import Draft202012Validator

    Draft202012Validator.check_schema(SCHEMA)
    return Draft202012Validator(SCHEMA)


def _errors(doc: dict[str, Any]) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in _validator().iter_errors(doc)]


def _documents(plan: PlanResult, inp: PlanningInput) -> list[dict[str, Any]]:
    _, artifacts = render(plan, inp)
    return [yaml.safe_load(a.content) for a in artifacts if a.kind == "openslo"]


def _check_bundle(docs: list[dict[str, Any]]) -> None:
    for doc in docs:
        assert _errors(doc) == [], doc["metadata"]["name"]
    services = [d for d in docs if d["kind"] == "Service"]
    assert len(services) == 1
    slos = [d for d in docs if d["kind"] == "SLO"]
    assert slos and {d["spec"]["service"] for d in slos} == {services[0]["metadata"]["name"]}
    names = [d["metadata"]["name"] for d in docs]
    assert len(set(names)) == len(names)


def test_golden_documents_validate(golden_plan: PlanResult,
                                   golden_input: PlanningInput) -> None:
    _check_bundle(_documents(golden_plan, golden_input))


@pytest.mark.parametrize("example", EXAMPLES)
def test_example_documents_validate(example: str, catalog: Catalog) -> None:
    inp = example_input(example, catalog)
    docs = _documents(hand_plan(inp), inp)
    _check_bundle(docs)
    if example == "ml_pipeline":
        service = next(d for d in docs if d["kind"] == "Service")
        assert service["metadata"] == {"name": "example-ml-pipeline",
                                       "displayName": "example_ml_pipeline"}


def test_the_schema_rejects_what_the_composer_used_to_emit() -> None:
    """Not vacuous: the old `service: example_ml_pipeline` and a 67-character name fail."""
    old = {
        "apiVersion": "openslo/v1", "kind": "SLO",
        "metadata": {"name": "a-thirty-eight-character-pipeline-name-batch-inference-availability"},
        "spec": {"service": "example_ml_pipeline", "budgetingMethod": "Occurrences",
                 "indicator": {"metadata": {"name": "x"}, "spec": {"ratioMetric": {
                     "counter": True,
                     "bad": {"metricSource": {"type": "Prometheus", "spec": {"query": "b"}}},
                     "total": {"metricSource": {"type": "Prometheus", "spec": {"query": "t"}}},
                 }}},
                 "timeWindow": [{"duration": "30d", "isRolling": True}],
                 "objectives": [{"displayName": "availability", "target": 0.99}]},
    }
    errors = _errors(old)
    assert any(e.startswith("metadata/name") for e in errors)
    assert any(e.startswith("spec/service") for e in errors)


def test_long_names_are_truncated_with_a_hash(catalog: Catalog) -> None:
    long_name = "a_thirty_eight_character_pipeline_nam"
    assert len(long_name + "x") == 38
    pipeline = Pipeline(
        name=long_name + "x",
        stages=(Stage(name="batch_inference", kind=StageKind.BATCH_INFERENCE, writes=("out",),
                      slo=StageSLO(deadline_minutes=45)),),
        datasets=(Dataset(name="out", uri="s3://bkt/out/", size_gb=1, home_region="us-east-1",
                          sensitivity="internal"),),
    )
    inp = PlanningInput(pipeline=pipeline, policy=Policy(), catalog=catalog)
    docs = _documents(hand_plan(inp), inp)
    _check_bundle(docs)
    slos = {d["spec"]["objectives"][0]["displayName"]: d for d in docs if d["kind"] == "SLO"}
    # 38 + "-batch-inference-availability" = 67 characters: cut to 54, plus "-" and a hash
    cut = slos["availability"]["metadata"]["name"]
    assert len(cut) == DNS_LABEL_MAX
    assert cut.startswith("a-thirty-eight-character-pipeline-namx-batch-inference-")
    assert re.fullmatch(r"[0-9a-f]{8}", cut[-8:])
    # 38 + "-batch-inference-latency" = 62: fits, kept as is
    assert slos["latency"]["metadata"]["name"] == (
        "a-thirty-eight-character-pipeline-namx-batch-inference-latency")
    # the indicator names (+ "-sli") are cut the same way
    assert all(len(d["spec"]["indicator"]["metadata"]["name"]) <= DNS_LABEL_MAX
               for d in slos.values())
    assert _documents(hand_plan(inp), inp) == docs  # stable


@pytest.mark.parametrize(("text", "label"), [
    ("example_ml_pipeline", "example-ml-pipeline"),
    ("Stage__One--two", "stage-one-two"),
    ("_lead_and_trail_", "lead-and-trail"),
    ("___", "x"),
])
def test_dns_label_examples(text: str, label: str) -> None:
    assert dns_label(text) == label


@given(st.text(min_size=1, max_size=200))
def test_dns_label_is_always_a_valid_label(text: str) -> None:
    label = dns_label(text)
    assert is_dns_label(label)
    assert dns_label(text) == label


@given(st.text(alphabet="abc", min_size=64, max_size=140),
       st.text(alphabet="abc", min_size=64, max_size=140))
def test_distinct_long_names_stay_distinct(a: str, b: str) -> None:
    if a != b:
        assert dns_label(a) != dns_label(b)
