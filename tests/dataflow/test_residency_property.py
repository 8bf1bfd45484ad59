"""Property: no admitted option and no frontier point writes data where its class may not be.

Pipelines are generated (datasets of random classes and homes, stages reading and writing
them, edges with and without ``carries``, declassifications with and without the policy's
allowance). The oracle below is written independently of ``airflow_cloudplan.dataflow``:
its own fixpoint of classes, and its own list of where an option writes — every output's
home, a cache (always) or a replica/partition (away from home) of every input in the
option's region, and a training stage's checkpoints there.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_cloudplan.errors import GateError, SolverError
from airflow_cloudplan.gates import screen_options
from airflow_cloudplan.model import (
    AccessStrategy,
    DataEdge,
    Dataset,
    DeclassificationAllowance,
    GovernancePolicy,
    Pipeline,
    PlanningInput,
    Policy,
    SensitivityClass,
    Stage,
    StageOption,
)
from tests.gates.conftest import all_options, make_catalog

REGIONS = ("eu-central-1", "eu-west-1", "us-east-1")
CLASSES = ("public", "internal", "confidential", "restricted")
ALLOWED = {  # deliberately not nested: confidential may go to the US, not to eu-central-1
    "public": set(REGIONS), "internal": set(REGIONS),
    "confidential": {"eu-west-1", "us-east-1"},
    "restricted": {"eu-central-1", "eu-west-1"},
}
RANK = {c: i for i, c in enumerate(CLASSES)}
GOVERNANCE = GovernancePolicy(classes=(
    SensitivityClass(name="public", rank=0),
    SensitivityClass(name="internal", rank=1),
    SensitivityClass(name="confidential", rank=2,
                     allowed_regions=("eu-west-1", "us-east-1")),
    SensitivityClass(name="restricted", rank=3, allowed_jurisdictions=("eu",)),
))

SETTINGS = settings(max_examples=25, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@st.composite
def pipelines(draw: Any) -> tuple[Pipeline, GovernancePolicy]:
    n_data = draw(st.integers(2, 4))
    datasets = [Dataset(name=f"d{i}", uri=f"s3://acme-data/d{i}/", size_gb=draw(
        st.sampled_from([1.0, 20.0])), home_region=draw(st.sampled_from(REGIONS)),
        sensitivity=draw(st.sampled_from(CLASSES))) for i in range(n_data)]
    names = [d.name for d in datasets]
    n_stages = draw(st.integers(2, 3))
    stages: list[Stage] = []
    allowances: list[DeclassificationAllowance] = []
    for k in range(n_stages):
        reads = draw(st.lists(st.sampled_from(names), max_size=2, unique=True))
        writes = draw(st.lists(st.sampled_from(names), max_size=2, unique=True))
        data: dict[str, Any] = {"name": f"s{k}", "kind": draw(st.sampled_from(
            ["transform", "train"])), "reads": reads, "writes": writes}
        if draw(st.booleans()):
            src = draw(st.sampled_from(CLASSES[1:]))
            dst = draw(st.sampled_from(CLASSES[: RANK[src]]))
            data["declassifies"] = {"from": src, "to": dst, "justification": "generated"}
            if draw(st.booleans()):
                allowances.append(DeclassificationAllowance.model_validate(
                    {"from": src, "to": dst, "stages": [f"s{k}"]}))
        stages.append(Stage.model_validate(data))
    edges = []
    for k in range(1, n_stages):
        src = stages[k - 1]
        carried = draw(st.one_of(st.none(), st.lists(
            st.sampled_from(list(src.reads) + list(src.writes) or names), max_size=1,
            unique=True)))
        carries = tuple(carried) if carried and set(carried) <= {*src.reads, *src.writes} \
            else None
        edges.append(DataEdge(src=f"s{k - 1}", dst=f"s{k}", gb_per_run=1.0, carries=carries))
    gov = GOVERNANCE.model_copy(update={"declassifications": tuple(allowances)})
    return Pipeline(name="gen", stages=tuple(stages), datasets=tuple(datasets),
                    edges=tuple(edges)), gov


def _allowed(pipeline: Pipeline, gov: GovernancePolicy, stage: Stage) -> tuple[str, str] | None:
    d = stage.declassifies
    if d is None or RANK[d.to_class] >= RANK[d.from_class]:
        return None
    covered = any(a.from_class == d.from_class and RANK[d.to_class] >= RANK[a.to_class]
                  and a.covers_stage(stage.name, stage.kind) for a in gov.declassifications)
    return (d.from_class, d.to_class) if covered else None


def oracle_classes(pipeline: Pipeline, gov: GovernancePolicy
                   ) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """Classes per dataset and per stage input, by plain iteration to a fixpoint."""
    data = {d.name: {d.sensitivity} for d in pipeline.datasets}
    inputs: dict[str, set[str]] = {s.name: set() for s in pipeline.stages}
    outputs: dict[str, set[str]] = {s.name: set() for s in pipeline.stages}
    while True:
        before = (repr(sorted((k, sorted(v)) for k, v in data.items())),
                  repr(sorted((k, sorted(v)) for k, v in inputs.items())))
        for s in pipeline.stages:
            for r in s.reads:
                inputs[s.name] |= data[r]
            for e in pipeline.edges:
                if e.dst != s.name:
                    continue
                src = pipeline.stage_by_name[e.src]
                if e.carries is None:
                    inputs[s.name] |= outputs[e.src]
                    for w in src.writes:
                        inputs[s.name] |= data[w]
                else:
                    for c in e.carries:
                        inputs[s.name] |= data[c]
            mapping = _allowed(pipeline, gov, s)
            outputs[s.name] = {mapping[1] if mapping and c == mapping[0] else c
                               for c in inputs[s.name]}
            for w in s.writes:
                data[w] |= outputs[s.name]
        after = (repr(sorted((k, sorted(v)) for k, v in data.items())),
                 repr(sorted((k, sorted(v)) for k, v in inputs.items())))
        if after == before:
            return data, inputs


def oracle_writes(pipeline: Pipeline, data: dict[str, set[str]], inputs: dict[str, set[str]],
                  stage: Stage, option: StageOption) -> list[tuple[str, set[str]]]:
    """(region, classes) of every place the option writes bytes to."""
    by_name = pipeline.dataset_by_name
    out = [(by_name[w].home_region, data[w]) for w in stage.writes]
    for r in stage.reads:
        home = by_name[r].home_region
        copies = option.access is AccessStrategy.REGIONAL_CACHE or (
            option.access is not AccessStrategy.DIRECT and home != option.region)
        if copies:
            out.append((option.region, data[r]))
    if stage.kind == "train":
        out.append((option.region, inputs[stage.name]))
    return out


def _violations(pipeline: Pipeline, gov: GovernancePolicy,
                assignment: dict[str, StageOption]) -> list[str]:
    data, inputs = oracle_classes(pipeline, gov)
    bad = []
    for name, option in assignment.items():
        stage = pipeline.stage_by_name[name]
        for region, classes in oracle_writes(pipeline, data, inputs, stage, option):
            bad += [f"{name}/{option.id}: {c} in {region}" for c in classes
                    if region not in ALLOWED[c]]
    return bad


@SETTINGS
@given(pipelines())
def test_no_admitted_option_writes_a_class_where_it_may_not_live(
    generated: tuple[Pipeline, GovernancePolicy],
) -> None:
    pipeline, gov = generated
    inp = PlanningInput(pipeline=pipeline, policy=Policy(governance=gov), catalog=make_catalog())
    try:
        outcome = screen_options(inp, all_options(inp))
    except GateError:
        return  # the policy refuses the pipeline as a whole (e.g. data already misplaced)
    for stage, options in outcome.admitted.items():
        for option in options:
            assert _violations(pipeline, gov, {stage: option}) == []


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pipelines())
def test_no_frontier_point_writes_a_class_where_it_may_not_live(
    generated: tuple[Pipeline, GovernancePolicy],
) -> None:
    from airflow_cloudplan.optimize.planner import plan

    pipeline, gov = generated
    inp = PlanningInput(pipeline=pipeline, policy=Policy(governance=gov), catalog=make_catalog())
    try:
        result = plan(inp, time_limit_s=20, total_time_s=60, max_points=10,
                      with_baselines=False)
    except (SolverError, GateError):
        return  # refused, or some stage has no admitted option: nothing planned, no leak
    for point in result.frontier:
        assert _violations(pipeline, gov, dict(point.assignment)) == []
