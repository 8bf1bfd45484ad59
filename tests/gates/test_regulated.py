"""The regulated example: restricted data never placed or copied outside the EU."""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_cloudplan.gates import check_plan, screen_options
from airflow_cloudplan.gates.exposure import implied_copies
from airflow_cloudplan.gates.iam import lint_policy, stage_iam_policy

SPEC = Path(__file__).resolve().parents[2] / "docs" / "examples" / "regulated_pipeline.yaml"


@pytest.fixture(scope="module")
def regulated():  # type: ignore[no-untyped-def]
    from airflow_cloudplan.catalog import load_catalog
    from airflow_cloudplan.optimize.candidates import enumerate_options
    from airflow_cloudplan.spec import load_spec

    catalog = load_catalog("aws")
    inp = load_spec(SPEC, catalog).planning_input(catalog)
    options = enumerate_options(inp)
    return inp, options, screen_options(inp, options)


def test_no_admitted_option_places_or_copies_restricted_data_outside_eu(regulated) -> None:  # type: ignore[no-untyped-def]
    inp, options, outcome = regulated
    eu = {r.id for r in inp.catalog.regions if r.jurisdiction == "eu"}
    outside = [o for opts in options.values() for o in opts if o.region not in eu]
    assert outside, "the candidate set must include non-EU options for this test to bite"
    restricted = {d.name for d in inp.pipeline.datasets if d.sensitivity == "restricted"}
    for stage, admitted in outcome.admitted.items():
        assert admitted, stage
        touches = set(inp.pipeline.stage_by_name[stage].reads) | set(
            inp.pipeline.stage_by_name[stage].writes)
        for option in admitted:
            if touches & restricted or inp.pipeline.stage_by_name[stage].sensitivity:
                assert option.region in eu, (stage, option.id)
            for copy in implied_copies(inp, stage, option):
                if copy.dataset in restricted:
                    assert copy.region in eu
    assignment = {k: v[0] for k, v in outcome.admitted.items()}
    assert not [v for v in check_plan(inp, assignment) if v.rule_id.startswith("gov.residency")]


def test_regulated_guardrail_and_stage_policies(regulated) -> None:  # type: ignore[no-untyped-def]
    inp, _options, outcome = regulated
    scp = outcome.report.artifacts["residency_guardrail"]
    by_sid = {s["Sid"]: s for s in scp["Statement"]}
    regions = by_sid["DenyOutsideRestricted"]["Condition"]["StringNotEquals"][
        "aws:RequestedRegion"]
    assert regions and all(inp.catalog.region(r).jurisdiction == "eu" for r in regions)
    for stage, admitted in outcome.admitted.items():
        doc = stage_iam_policy(inp, stage, admitted[0])
        assert lint_policy(doc) == [], stage
