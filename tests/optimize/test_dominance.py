"""In-stage dominance pruning is exact: same frontier, fewer options, reasons kept."""

from __future__ import annotations

import dataclasses

import pytest

from airflow_cloudplan.optimize.dominance import prune_dominated
from airflow_cloudplan.optimize.pareto import enumerate_frontier
from airflow_cloudplan.optimize.synthetic import random_problem


def _points(front):
    return sorted(p.as_tuple() for _, p in front)


@pytest.mark.parametrize("seed", range(5))
def test_pruning_keeps_the_frontier(seed):
    problem = random_problem(seed, 4, 7, n_regions=2)
    pruned, report = prune_dominated(problem)
    assert report.before == problem.n_options
    assert report.after == pruned.n_options <= problem.n_options
    assert _points(enumerate_frontier(pruned)) == _points(enumerate_frontier(problem))


def test_only_same_region_same_identity_options_prune_each_other():
    problem = random_problem(0, 1, 3, n_regions=1, edge_prob=0.0)
    (k,) = problem.stages
    base = problem.options[k][0]
    worse = dataclasses.replace(base, cost_usd=base.cost_usd + 1, latency_ms=base.latency_ms + 1,
                                exposure=base.exposure + 1)
    other_identity = dataclasses.replace(worse, shared=not base.shared)
    other_region = dataclasses.replace(
        worse, option=base.option.model_copy(update={"region": "elsewhere",
                                                     "instance_type": "other"}))
    duplicate = dataclasses.replace(
        base, option=base.option.model_copy(update={"instance_type": "twin"}))
    problem.options[k] = [base, worse, other_identity, other_region, duplicate]
    pruned, report = prune_dominated(problem)
    kept = {o.option.id for o in pruned.options[k]}
    assert kept == {base.option.id, other_identity.option.id, other_region.option.id}
    (stage,) = report.stages
    assert (stage.dominated, stage.duplicates) == (1, 1)
    assert stage.pruned_by[worse.option.id] == base.option.id
    assert stage.pruned_by[duplicate.option.id] == base.option.id


def test_pruning_shrinks_a_realistic_problem():
    from airflow_cloudplan.catalog import load_catalog
    from airflow_cloudplan.optimize.synthetic import catalog_problem

    problem = catalog_problem(load_catalog(), 5, 400, seed=3)
    pruned, report = prune_dominated(problem)
    assert report.after < report.before
    assert sum(s.dominated + s.duplicates for s in report.stages) == report.before - report.after
    assert all(pruned.options[k] for k in pruned.stages)
