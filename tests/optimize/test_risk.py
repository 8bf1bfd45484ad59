from __future__ import annotations

import pytest

from airflow_cloudplan.model import AccessStrategy, Isolation
from airflow_cloudplan.optimize.risk import plan_risk, stage_risk

from .test_cost import opt


def test_scoped_stage_risk_hand_value(tiny_input) -> None:  # type: ignore[no-untyped-def]
    # prep: identity weight 3 (confidential output); reach = raw (internal 2) + feats (3).
    r = stage_risk(tiny_input, "prep", opt("prep"))
    assert (r.exposure, r.blast_radius, r.risk) == (3.0, 5.0, 15.0)


def test_shared_identity_couples_blast_radius(tiny_input) -> None:  # type: ignore[no-untyped-def]
    shared = {"isolation": Isolation.SHARED}
    plan = {
        "prep": opt("prep", **shared),
        "train": opt("train", "r2", **shared),
        "serve": opt("serve"),
    }
    # shared reach = 5 (prep) + 3 (train); train's exposure is its identity (3) plus its
    # checkpoints of confidential data (3); serve is scoped with reach 0.
    assert plan_risk(tiny_input, plan) == pytest.approx(3 * 8 + (3 + 3) * 8 + 0)
    scoped = {k: o.model_copy(update={"isolation": Isolation.SCOPED}) for k, o in plan.items()}
    assert plan_risk(tiny_input, scoped) < plan_risk(tiny_input, plan)


def test_replication_and_caching_raise_exposure(tiny_input) -> None:  # type: ignore[no-untyped-def]
    direct = stage_risk(tiny_input, "train", opt("train", "r1")).exposure
    cache = stage_risk(
        tiny_input, "train", opt("train", "r1", access=AccessStrategy.REGIONAL_CACHE)
    ).exposure
    repl = stage_risk(
        tiny_input, "train", opt("train", "r1", access=AccessStrategy.SELECTIVE_REPLICATION)
    ).exposure
    assert direct < cache and direct < repl
