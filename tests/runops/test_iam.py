"""IAM artifacts: the gates' least-privilege policies, lint clean, plus the guard-rail."""

from __future__ import annotations

import json

import pytest

from airflow_cloudplan.model import Catalog, PlanningInput, PlanResult
from airflow_cloudplan.runops import render
from tests.runops.conftest import example_input, hand_plan

iam = pytest.importorskip("airflow_cloudplan.gates.iam",
                          reason="the gates' IAM generation (issue 4) is not installed")


def test_every_stage_gets_a_lint_clean_scoped_policy(
    golden_plan: PlanResult, golden_input: PlanningInput
) -> None:
    _, artifacts = render(golden_plan, golden_input)
    policies = {a.stage: json.loads(a.content) for a in artifacts if a.kind == "iam-policy"}
    assert set(policies) == {s.name for s in golden_input.pipeline.stages}
    for policy in policies.values():
        assert iam.lint_policy(policy) == []
    features = json.dumps(policies["features"])
    assert "arn:aws:s3:::golden-raw/events/*" in features
    assert "golden-models" not in features  # features does not touch the model


def test_regulated_example_has_a_residency_guardrail(catalog: Catalog) -> None:
    inp = example_input("regulated_pipeline", catalog)
    _, artifacts = render(hand_plan(inp), inp)
    guardrail = json.loads(next(a for a in artifacts
                                if a.path == "iam/residency-guardrail.json").content)
    statement = guardrail["Statement"][0]
    assert statement["Effect"] == "Deny"
    regions = statement["Condition"]["StringNotEquals"]["aws:RequestedRegion"]
    assert all(catalog.region(r).jurisdiction in ("eu", "uk") for r in regions)
