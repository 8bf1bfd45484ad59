"""The three baselines are real planners with their stated preferences."""

from __future__ import annotations

import pytest

from airflow_cloudplan.catalog import load_catalog
from airflow_cloudplan.model.plan import AccessStrategy, Isolation, ScalingPolicy
from airflow_cloudplan.optimize.baselines import (
    compute_centric,
    locality_only,
    rules_based_autoscaling,
    run_baselines,
)
from airflow_cloudplan.optimize.candidates import enumerate_options
from airflow_cloudplan.optimize.cost import stage_cost
from airflow_cloudplan.optimize.latency import stage_latency_ms
from airflow_cloudplan.spec import load_spec
from tests.conftest import REPO


@pytest.fixture(scope="module")
def setting():
    catalog = load_catalog()
    inp = load_spec(REPO / "docs/examples/ml_pipeline.yaml", catalog).planning_input(catalog)
    # the baselines are scored with shared identities too, as the planner gives them
    return inp, enumerate_options(inp, include_shared=True)


def test_compute_centric_takes_the_cheapest_compute(setting):
    inp, options = setting
    chosen = compute_centric(inp, options)
    for k, o in chosen.items():
        usable = [q for q in options[k] if stage_latency_ms(inp, k, q) < float("inf")
                  and q.access is AccessStrategy.DIRECT and q.isolation is Isolation.SHARED]
        assert (o.access, o.isolation) == (AccessStrategy.DIRECT, Isolation.SHARED)
        best = min(stage_cost(inp, k, q).compute_usd for q in usable)
        assert stage_cost(inp, k, o).compute_usd == pytest.approx(best)


def test_locality_only_replicates_aggressively(setting):
    inp, options = setting
    chosen = locality_only(inp, options)
    for k, o in chosen.items():
        offered = {q.access for q in options[k]}
        if AccessStrategy.SELECTIVE_REPLICATION in offered:
            assert o.access is AccessStrategy.SELECTIVE_REPLICATION


def test_rules_based_autoscaling_uses_threshold_rules(setting):
    inp, options = setting
    chosen = rules_based_autoscaling(inp, options)
    for k, o in chosen.items():
        if any(q.scaling is ScalingPolicy.RULE_BASED for q in options[k]):
            assert o.scaling is ScalingPolicy.RULE_BASED


def test_run_baselines_reports_violations_with_stages(setting):
    inp, options = setting
    results = run_baselines(inp, options)
    assert len(results) == 3
    for r in results:
        assert set(r.plan.assignment) == set(inp.pipeline.stage_by_name)
        assert r.plan.solver_status == "baseline"
        assert not r.plan.proven_optimal
        for v in r.plan.violations:
            assert v.message
