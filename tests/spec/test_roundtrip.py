"""Specs and plans cross process boundaries as JSON: they must round-trip exactly."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_cloudplan.errors import SpecError
from airflow_cloudplan.model import (
    AirflowPool,
    AirflowSettings,
    AirflowTaskSettings,
    BaselineResult,
    CostBreakdown,
    EvaluatedPlan,
    GateReport,
    Objectives,
    ObjectiveWeights,
    Pipeline,
    PlanResult,
    Policy,
    SolverStats,
    StageEvaluation,
    StageGateSummary,
    StageOption,
    Violation,
)
from airflow_cloudplan.spec import Spec, load_spec, parse_spec

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"


@pytest.mark.parametrize("name", ["ml_pipeline.yaml", "regulated_pipeline.yaml"])
def test_spec_pipeline_policy_round_trip(name: str) -> None:
    spec = load_spec(EXAMPLES / name)
    for model, cls in ((spec, Spec), (spec.pipeline, Pipeline), (spec.policy, Policy)):
        dumped = model.model_dump(mode="json")
        again = cls.model_validate(json.loads(json.dumps(dumped)))
        assert again == model
        assert again.model_dump(mode="json") == dumped


def _option(stage: str, region: str, **kw: object) -> StageOption:
    fields: dict[str, object] = {
        "stage": stage, "region": region, "zone": f"{region}a", "tier": "aws-ec2",
        "instance_type": "g5.xlarge", "replicas_min": 0, "replicas_max": 4,
        "scaling": "predictive", "access": "regional_cache", "isolation": "scoped",
    }
    fields.update(kw)
    return StageOption.model_validate(fields)


def _plan(cost: float, spot: bool) -> EvaluatedPlan:
    assignment = {"train": _option("train", "eu-west-1", spot=spot),
                  "serve": _option("serve", "eu-central-1", isolation="shared")}
    stages = tuple(
        StageEvaluation(stage=s, option=o,
                        cost=CostBreakdown(compute_usd=cost / 3, storage_usd=1.25,
                                           network_usd=0.1),
                        latency_ms=123.456, exposure=3.0, blast_radius=2.5, risk=7.5,
                        detail={"utilisation": 0.62, "egress_gb": 12.0})
        for s, o in assignment.items()
    )
    return EvaluatedPlan(
        assignment=assignment, objectives=Objectives(cost_usd_month=cost, latency_ms=9.5e6,
                                                     risk=15.0),
        stages=stages, egress_usd_month=0.2, proven_optimal=not spot,
        solver_status="optimal" if not spot else "time_limit",
        violations=(Violation(gate="governance", rule_id="residency", stage="serve",
                              field="region", measured="us-east-1", allowed="eu",
                              message="restricted data outside eu"),),
    )


def test_hand_built_plan_result_round_trips_exactly() -> None:
    result = PlanResult(
        pipeline="regulated_credit_scoring", spec_sha256="ab" * 32,
        catalog_version="aws-2026-11-28",
        created_at=datetime(2026, 11, 28, 15, 4, 5, 123456, tzinfo=UTC),
        weights=ObjectiveWeights(cost=1, latency=0.5, risk=3),
        frontier=(_plan(1000.0, spot=False), _plan(812.5, spot=True)), recommended=1,
        baselines=(BaselineResult(name="compute_centric", description="cheapest compute",
                                  plan=_plan(640.0, spot=True)),),
        gate_report=GateReport(
            stages=(StageGateSummary(stage="serve", options_before=120,
                                     options_after={"governance": 40, "slo": 12},
                                     reasons={"residency": 80},
                                     smallest_relaxation=None),),
            total_before=240, total_after=52, artifacts={"guardrail": {"eu": ["serve"]}},
        ),
        solver=SolverStats(solver="CBC", wall_time_s=0.56, variables=14375, constraints=900,
                           options_total=240, options_after_dominance=80, solves=7,
                           all_proven_optimal=False, time_limit_s=60.0),
        profiles_used=("regulated_credit_scoring.train",),
        airflow=AirflowSettings(
            pools=(AirflowPool(name="cp-eu-west-1", slots=4),),
            tasks=(AirflowTaskSettings(dag_id="regulated_credit_scoring", task_id="train",
                                       stage="train", pool="cp-eu-west-1", pool_slots=2,
                                       executor="CeleryExecutor",
                                       executor_config={"pod_override": {"spec": {}}},
                                       otel={"cloudplan.region": "eu-west-1"}),),
        ),
        notes=("frontier point 2 not proven optimal (time limit)",),
    )
    dumped = result.model_dump(mode="json")
    again = PlanResult.model_validate(json.loads(json.dumps(dumped)))
    assert again == result
    assert again.model_dump(mode="json") == dumped
    assert PlanResult.model_validate_json(result.model_dump_json()) == result
    assert again.recommendation.objectives.cost_usd_month == 812.5


_names = st.lists(st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True), min_size=1,
                  max_size=8, unique=True)


@st.composite
def _dag_specs(draw: st.DrawFn) -> tuple[str, list[str], list[tuple[str, str]]]:
    """A random DAG spec text: edges only go forward in a random order, so it is acyclic."""
    names = draw(_names)
    pairs = [(a, b) for i, a in enumerate(names) for b in names[i + 1:]]
    edges = draw(st.lists(st.sampled_from(pairs), unique=True)) if pairs else []
    lines = ["name: prop", "stages:"]
    lines += [f"  - {{name: {n}, kind: transform}}" for n in names]
    lines.append("edges:")
    lines += [f'  - "{a} -> {b}"' for a, b in edges]
    if not edges:
        lines[-1] = "edges: []"
    return "\n".join(lines) + "\n", names, edges


@settings(max_examples=60, deadline=None)
@given(_dag_specs())
def test_acyclic_specs_load_and_round_trip(case: tuple[str, list[str], list[tuple[str, str]]]
                                           ) -> None:
    text, names, edges = case
    spec = parse_spec(text, "prop.yaml")
    assert [s.name for s in spec.pipeline.stages] == names
    assert [(e.src, e.dst) for e in spec.pipeline.edges] == edges
    order = spec.pipeline.topological_order()
    assert sorted(order) == sorted(names)
    assert all(order.index(a) < order.index(b) for a, b in edges)
    assert Spec.model_validate(spec.model_dump(mode="json")) == spec


@settings(max_examples=60, deadline=None)
@given(_dag_specs(), st.data())
def test_a_back_edge_is_reported_as_a_named_cycle_on_its_line(
    case: tuple[str, list[str], list[tuple[str, str]]], data: st.DataObject
) -> None:
    text, names, edges = case
    if not edges:
        return
    a, b = data.draw(st.sampled_from(edges))
    broken = text + f'  - "{b} -> {a}"\n'
    with pytest.raises(SpecError) as err:
        parse_spec(broken, "prop.yaml")
    cycles = [p for p in err.value.problems if "cycle" in p.message]
    assert len(cycles) == 1
    assert cycles[0].path is not None and cycles[0].path.startswith("edges[")
    named = cycles[0].message.split(": ", 1)[1].rstrip(".").split(" -> ")
    assert named[0] == named[-1]
    assert len(set(named[:-1])) == len(named) - 1  # a simple cycle
    pairs = set(edges) | {(b, a)}
    assert all((x, y) in pairs for x, y in itertools.pairwise(named))
    index = int(cycles[0].path.removeprefix("edges[").rstrip("]"))
    edges_line = 3 + len(names)  # name, stages:, one line per stage, then edges:
    assert cycles[0].line == edges_line + 1 + index
    closing = [*edges, (b, a)][index]
    assert closing in set(itertools.pairwise(named))


_EXAMPLE_LINES = (EXAMPLES / "ml_pipeline.yaml").read_text(encoding="utf-8").splitlines()


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_any_mangled_spec_gives_a_spec_or_located_problems_never_a_crash(
    data: st.DataObject,
) -> None:
    """Delete, duplicate or garble random lines of a real spec: the loader either accepts
    the result or raises SpecError whose every problem names the file and has a fix."""
    lines = list(_EXAMPLE_LINES)
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(lines) - 1))
        action = data.draw(st.sampled_from(["delete", "duplicate", "garble", "dedent"]))
        if action == "delete":
            del lines[i]
        elif action == "duplicate":
            lines.insert(i, lines[i])
        elif action == "dedent":
            lines[i] = lines[i].lstrip()
        else:
            junk = data.draw(st.text(alphabet=":-[]{}#&*!|>'\"\t ,0123456789abcxyz", max_size=6))
            j = data.draw(st.integers(0, len(lines[i])))
            lines[i] = lines[i][:j] + junk + lines[i][j:]
    try:
        parse_spec("\n".join(lines) + "\n", "mangled.yaml")
    except SpecError as exc:
        assert exc.problems
        assert all(p.file == "mangled.yaml" and p.hint for p in exc.problems)
        assert all(p.line is not None and 1 <= p.line <= len(lines) + 1 for p in exc.problems)


@settings(max_examples=100, deadline=None)
@given(st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.sampled_from(["name", "stages", "edges", "datasets", "policy", "kind",
                                       "src", "size", "x"]), inner, max_size=4),
    max_leaves=12,
))
def test_any_yaml_document_gives_a_spec_or_located_problems(document: object) -> None:
    import yaml

    try:
        parse_spec(yaml.safe_dump(document), "random.yaml")
    except SpecError as exc:
        assert exc.problems and all(p.hint for p in exc.problems)
