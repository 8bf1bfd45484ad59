"""Bad policies get located, actionable errors before any option is screened."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from airflow_cloudplan.errors import GateError
from airflow_cloudplan.gates import screen_options, validate_policy
from airflow_cloudplan.model import GovernancePolicy, PlanningInput, SensitivityClass, Stage

from .conftest import all_options, make_pipeline


def _classes(**changes: dict[str, object]) -> tuple[SensitivityClass, ...]:
    return tuple(c.model_copy(update=changes.get(c.name, {})) for c in GovernancePolicy().classes)


def test_unknown_region_is_located_with_suggestion(
    planning_input: Callable[..., PlanningInput],
) -> None:
    gov = GovernancePolicy(classes=_classes(restricted={"allowed_regions": ("eu-centrl-1",)}))
    with pytest.raises(GateError) as err:
        screen_options(planning_input(governance=gov), {})
    text = err.value.render()
    assert "policy.governance.classes[3].allowed_regions[0]" in text
    assert "unknown region 'eu-centrl-1'" in text
    assert "did you mean 'eu-central-1'?" in text


def test_contradictory_class_is_explained(planning_input: Callable[..., PlanningInput]) -> None:
    gov = GovernancePolicy(classes=_classes(
        restricted={"allowed_regions": ("us-east-1",), "allowed_jurisdictions": ("eu",)}))
    with pytest.raises(GateError) as err:
        validate_policy(planning_input(governance=gov))
    text = err.value.render()
    assert "class 'restricted' admits no region" in text
    assert "contradict each other" in text


def test_override_lower_than_data_and_unknown_class(
    planning_input: Callable[..., PlanningInput],
) -> None:
    base = make_pipeline()
    stages = (
        *(s.model_copy(update={"sensitivity": "internal"}) if s.name == "prepare" else s
          for s in base.stages),
        Stage(name="audit", kind="monitor", sensitivity="secret"),
    )
    with pytest.raises(GateError) as err:
        validate_policy(planning_input(pipeline=make_pipeline(stages=stages)))
    text = err.value.render()
    assert "stages[0].sensitivity: stage 'prepare' declares class 'internal' but touches" in text
    assert "stages[3].sensitivity: stage 'audit' has unknown sensitivity class 'secret'" in text
    assert len(err.value.problems) == 2


def test_duplicate_rank_and_data_already_outside_its_jurisdiction(
    planning_input: Callable[..., PlanningInput],
) -> None:
    gov = GovernancePolicy(classes=_classes(
        confidential={"rank": 1}, public={"allowed_jurisdictions": ("eu",)}))
    with pytest.raises(GateError) as err:
        validate_policy(planning_input(governance=gov))
    text = err.value.render()
    assert "share rank 1" in text
    assert "dataset 'weather' of class 'public' already lives in 'us-east-1'" in text


def test_valid_default_policy_passes(planning_input: Callable[..., PlanningInput]) -> None:
    inp = planning_input()
    validate_policy(inp)
    assert screen_options(inp, all_options(inp)).report.total_after > 0
