"""The evaluation protocol (the paper's Section V.D), one scenario at a time.

1. **Profile** the scenario's trace through the Workload Profiler
   (:func:`airflow_cloudplan.profile.trace.profile_trace`) and put what it measured into
   the declared stage (work per run or request on the reference device × the declared
   accelerator speed-up = the spec's one-vCPU figure);
2. **plan**: the exact frontier, the weighted recommendation and the three baselines
   (:func:`airflow_cloudplan.optimize.planner.plan`);
3. **simulate** the recommendation, every baseline and every frontier point under the
   same workload and the same seeds (common random numbers) with
   :func:`airflow_cloudplan.simulate.simulate_plan`, which reads the plans as data only;
4. **compare**: Table-4 metrics (mean and range over seeds), the planner's predicted
   (C, L) against the simulated ones, and how many frontier points dominate each
   baseline in simulation (cost, simulated L, and the plan's risk R, which operation does
   not change).

The planner is imported here, in the protocol, never in the simulator's modules.
"""

from __future__ import annotations

import csv
import math
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pydantic import Field

from airflow_cloudplan.model.catalog import Catalog, Frozen
from airflow_cloudplan.model.context import PlanningInput
from airflow_cloudplan.model.plan import EvaluatedPlan, PlanResult, StageOption
from airflow_cloudplan.model.workload import Pipeline, ProfileSet, Stage
from airflow_cloudplan.simulate.config import SimConfig
from airflow_cloudplan.simulate.protocol.scenarios import Scenario
from airflow_cloudplan.simulate.protocol.static import PlanReadiness
from airflow_cloudplan.simulate.results import PlanSim, TimeSeries

DEFAULT_SEEDS = (0, 1, 2, 3, 4)
SHARED_ASSUMPTIONS = (
    "data-parallel scaling efficiency η = 0.9 per doubling of devices (both use the "
    "published Horovod figure)",
    "a stage's one-vCPU work is its reference-device work × its declared accelerator "
    "speed-up, and one request holds one device (or one vCPU) at a time",
    "a regional cache holds 25 % of its dataset and partitioned locality keeps 80 % in the "
    "stage's region (plan configuration the option does not carry)",
    "a replica's initial copy is paid over 12 months (accounting convention)",
    "catalog prices, tier start-up times and the measured inter-region throughput",
)
"""What the simulator and the planner share, so the simulation cannot check it."""


class Stat(Frozen):
    """A figure over seeds: mean and range."""

    mean: float
    lo: float
    hi: float


def stat(values: Sequence[float]) -> Stat:
    """Mean, min and max (``inf`` propagates)."""
    vals = list(values)
    finite = all(math.isfinite(v) for v in vals)
    mean = sum(vals) / len(vals) if finite else max(vals)
    return Stat(mean=mean, lo=min(vals), hi=max(vals))


class PlanOutcome(Frozen):
    """One plan: what the planner predicted, what the simulation measured, its readiness."""

    label: str
    kind: str = Field(description="recommended, baseline or frontier")
    description: str = ""
    frontier_index: int | None = None
    options: dict[str, str]
    predicted_cost_usd_month: float
    predicted_latency_s: float
    risk: float
    sim: dict[str, Stat]
    cdf_s: tuple[float, ...] = ()
    series: TimeSeries | None = None
    readiness: PlanReadiness | None = None

    @property
    def cost_error(self) -> float:
        """Predicted / simulated monthly cost − 1."""
        return self.predicted_cost_usd_month / self.sim["cost_total"].mean - 1.0

    @property
    def latency_error(self) -> float:
        """Predicted / simulated L − 1."""
        return self.predicted_latency_s / self.sim["latency_s"].mean - 1.0


class Dominance(Frozen):
    """Frontier points that dominate one baseline."""

    baseline: str
    simulated: int
    predicted: int
    frontier: int


class ScenarioOutcome(Frozen):
    """Everything the report says about one scenario."""

    key: str
    title: str
    spec: str
    stage: str
    mode: str
    mapping: str
    sources: tuple[str, ...]
    facts: dict[str, str]
    profile: dict[str, float]
    filled: dict[str, float]
    slo: str
    slo_s: float | None = None
    slo_relaxed: str | None = Field(
        default=None, description="the planner admitted no option under the declared SLO; "
                                  "it planned with this one (the simulation keeps the declared)")
    horizon_h: float
    frontier_points: int
    frontier_complete: bool
    planner_notes: tuple[str, ...]
    plans: tuple[PlanOutcome, ...]
    frontier: tuple[PlanOutcome, ...]
    dominance: tuple[Dominance, ...]
    online_plot: bool = False


class Evaluation(Frozen):
    """The whole protocol's result (what ``evaluation.json`` holds)."""

    seeds: tuple[int, ...]
    catalog_version: str
    config: SimConfig
    shared_assumptions: tuple[str, ...] = SHARED_ASSUMPTIONS
    scenarios: tuple[ScenarioOutcome, ...]
    command: str = ""


Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    return None


# ------------------------------------------------------------------ profile → spec
def profile_through_profiler(scenario: Scenario, dag_id: str, task_id: str) -> ProfileSet:
    """Feed the scenario's rows to the Workload Profiler as a trace file (CSV)."""
    from airflow_cloudplan.profile.trace import TraceColumns, profile_trace

    assert scenario.profile_rows is not None
    with tempfile.TemporaryDirectory(prefix="cloudplan-eval-") as tmp:
        path = Path(tmp) / f"{scenario.key}.csv"
        with path.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(["time", "duration", "dag", "task"])
            for t, d in scenario.profile_rows():
                writer.writerow([repr(t), repr(d), dag_id, task_id])
        return profile_trace(path, TraceColumns(time="time", duration="duration",
                                                stage=("task",), pipeline="dag", status=None))


def fill_stage(stage: Stage, reference_s: float) -> tuple[Stage, dict[str, float]]:
    """The declared stage with the measured work per run/request put in."""
    speedup = stage.compute.accelerator_speedup if stage.compute.accelerator else 1.0
    if stage.mode.value == "batch":
        update = {"vcpu_seconds": reference_s * speedup}
    else:
        update = {"service_ms_per_request": reference_s * 1000.0 * speedup}
    compute = stage.compute.model_copy(update=update)
    return stage.model_copy(update={"compute": compute}), update


def scenario_input(scenario: Scenario, catalog: Catalog
                   ) -> tuple[PlanningInput, str, dict[str, float], dict[str, float]]:
    """Spec + profile → the planning input; also the profile summary and what was filled."""
    from airflow_cloudplan.errors import Problem, ProfileError
    from airflow_cloudplan.model.workload import Pipeline
    from airflow_cloudplan.spec import load_spec

    spec = load_spec(scenario.spec, catalog)
    stage = spec.pipeline.stage_by_name[scenario.stage]
    if stage.airflow is None:
        raise ProfileError("scenario stage has no Airflow binding", [Problem(
            "profiles are matched by dag_id/task_id", file=str(scenario.spec),
            path=f"stages.{stage.name}.airflow", hint="add airflow: {dag_id, task_id}")])
    profiles = profile_through_profiler(scenario, stage.airflow.dag_id, stage.airflow.task_id)
    prof = profiles.for_task(stage.airflow.dag_id, stage.airflow.task_id)
    if prof is None or prof.duration is None or prof.arrivals is None:
        raise ProfileError(f"{scenario.key}: the trace is too short to profile", [Problem(
            "the profiler needs at least two runs or requests with durations",
            path=scenario.key, hint="replay a longer window")])
    filled_stage, filled = fill_stage(stage, prof.duration.mean_s)
    data = spec.pipeline.model_dump(mode="json")
    data["stages"] = [filled_stage.model_dump(mode="json") if s["name"] == stage.name else s
                      for s in data["stages"]]
    pipeline = Pipeline.model_validate(data)
    summary = {"runs": float(prof.n_runs), "rate_per_s": prof.arrivals.rate_per_s,
               "cv2": prof.arrivals.cv2, "peak_to_mean": prof.arrivals.peak_to_mean,
               "mean_s": prof.duration.mean_s, "p95_s": prof.duration.p95_s}
    inp = PlanningInput(pipeline=pipeline, policy=spec.policy, catalog=catalog,
                        profiles=profiles)
    return inp, spec.sha256, summary, filled


# ------------------------------------------------------------------ simulation
def sim_key(assignment: dict[str, StageOption]) -> str:
    """What the simulator reads of a plan (isolation changes nothing in operation)."""
    return "|".join(f"{k}={o.model_copy(update={'isolation': 'scoped'}).id}"
                    for k, o in sorted(assignment.items()))


class _Simulator:
    """Simulates plans of one scenario, each distinct deployment once per seed."""

    def __init__(self, scenario: Scenario, inp: PlanningInput, cfg: SimConfig,
                 seeds: Sequence[int], *, progress: Progress, declared: Pipeline) -> None:
        from airflow_cloudplan.simulate.forecast import forecast_from_times
        from airflow_cloudplan.simulate.workload import OnlineLoad

        self.scenario, self.inp, self.cfg, self.seeds = scenario, inp, cfg, tuple(seeds)
        self.declared = declared
        self.progress = progress
        self.loads = {s: scenario.loads(s) for s in self.seeds}
        self.forecasts = {}
        for s, loads in self.loads.items():
            per_stage = {}
            for k, load in loads.items():
                times = (load.arrivals_s if isinstance(load, OnlineLoad)
                         else [r.submit_s for r in load.runs])
                per_stage[k] = forecast_from_times(times, cfg.forecast_window_s, load.horizon_s)
            self.forecasts[s] = per_stage
        self.cache: dict[str, list[PlanSim]] = {}

    def run(self, assignment: dict[str, StageOption]) -> list[PlanSim]:
        from airflow_cloudplan.simulate.pipeline import simulate_plan

        key = sim_key(assignment)
        if key not in self.cache:
            started = time.perf_counter()
            self.cache[key] = [
                simulate_plan(self.inp.catalog, self.declared, assignment, self.loads[s],
                              self.cfg, seed=s, forecasts=self.forecasts[s])
                for s in self.seeds]
            self.progress(f"  simulated {len(self.cache)} deployment(s) "
                          f"({time.perf_counter() - started:.1f} s for {len(self.seeds)} seeds)")
        return self.cache[key]


def _primary(sims: list[PlanSim], stage: str) -> list[Any]:
    return [next(s for s in p.stages if s.stage == stage) for p in sims]


def outcome_of(label: str, kind: str, plan: EvaluatedPlan, sims: list[PlanSim], stage: str, *,
               description: str = "", index: int | None = None,
               readiness: PlanReadiness | None = None, keep_curves: bool = True
               ) -> PlanOutcome:
    """Aggregate one plan's simulations over seeds."""
    primary = _primary(sims, stage)
    costs = [p.cost_month for p in sims]
    sim = {
        "p50_s": stat([s.latency.p50_s for s in primary]),
        "p95_s": stat([s.latency.p95_s for s in primary]),
        "p99_s": stat([s.latency.p99_s for s in primary]),
        "mean_s": stat([s.latency.mean_s for s in primary]),
        "violation_ratio": stat([s.violation_ratio for s in primary]),
        "unfinished": stat([float(s.latency.unfinished) for s in primary]),
        "latency_s": stat([p.latency_s for p in sims]),
        "cost_compute": stat([c["compute"] for c in costs]),
        "cost_storage": stat([c["storage"] for c in costs]),
        "cost_egress": stat([c["egress"] for c in costs]),
        "cost_total": stat([c["total"] for c in costs]),
        "replica_hours_month": stat([s.cost.per_month(s.cost.replica_hours) for s in primary]),
        "launches": stat([float(s.launches) for s in primary]),
        "interruptions": stat([float(s.interruptions) for s in primary]),
        "cold_waits": stat([float(s.cold_waits) for s in primary]),
    }
    cdf: tuple[float, ...] = ()
    if keep_curves and primary[0].cdf_s:
        n = len(primary[0].cdf_s)
        cdf = tuple(sum(s.cdf_s[i] for s in primary) / len(primary) for i in range(n))
    o = plan.objectives
    return PlanOutcome(
        label=label, kind=kind, description=description, frontier_index=index,
        options={k: v.id for k, v in plan.assignment.items()},
        predicted_cost_usd_month=o.cost_usd_month, predicted_latency_s=o.latency_ms / 1000.0,
        risk=o.risk, sim=sim, cdf_s=cdf,
        series=primary[0].series if keep_curves else None, readiness=readiness)


def dominates(a: tuple[float, float, float], b: tuple[float, float, float]) -> bool:
    """``a`` is no worse than ``b`` everywhere and better somewhere (minimisation)."""
    return all(x <= y for x, y in zip(a, b, strict=True)) and a != b


def _dominance(frontier: Sequence[PlanOutcome], baselines: Sequence[PlanOutcome]
               ) -> tuple[Dominance, ...]:
    out = []
    for b in baselines:
        sb = (b.sim["cost_total"].mean, b.sim["latency_s"].mean, b.risk)
        pb = (b.predicted_cost_usd_month, b.predicted_latency_s, b.risk)
        n_sim = sum(dominates((f.sim["cost_total"].mean, f.sim["latency_s"].mean, f.risk), sb)
                    for f in frontier)
        n_pred = sum(dominates((f.predicted_cost_usd_month, f.predicted_latency_s, f.risk), pb)
                     for f in frontier)
        out.append(Dominance(baseline=b.label, simulated=n_sim, predicted=n_pred,
                             frontier=len(frontier)))
    return tuple(out)


def _slo_seconds(pipeline: Pipeline, stage: str) -> float | None:
    slo = pipeline.stage_by_name[stage].slo
    if slo.p95_ms:
        return slo.p95_ms / 1000.0
    return slo.deadline_minutes * 60.0 if slo.deadline_minutes else None


def _slo_text(pipeline: Pipeline, stage: str) -> str:
    slo = pipeline.stage_by_name[stage].slo
    if slo.p95_ms:
        return f"p95 ≤ {slo.p95_ms / 1000:g} s"
    if slo.deadline_minutes:
        return f"completion ≤ {slo.deadline_minutes:g} min"
    return "none stated"


def evaluate_planned(scenario: Scenario, inp: PlanningInput, result: PlanResult, *,
                     cfg: SimConfig, seeds: Sequence[int], base_dir: Path | None,
                     progress: Progress, profile: dict[str, float] | None = None,
                     filled: dict[str, float] | None = None, declared: Pipeline | None = None,
                     relaxed: str | None = None) -> ScenarioOutcome:
    """Steps 3–4 of the protocol for a plan result (any plan.json).

    ``declared`` is the pipeline as its owners declared it (its SLOs judge the simulation)
    when the planner had to plan with a relaxed SLO (``relaxed`` says how).
    """
    from airflow_cloudplan.simulate.protocol.static import plan_readiness

    declared = declared or inp.pipeline
    sim = _Simulator(scenario, inp, cfg, seeds, progress=progress, declared=declared)
    stage = scenario.stage
    rec = result.recommendation
    plans = [outcome_of("recommended", "recommended", rec, sim.run(dict(rec.assignment)), stage,
                        description=f"frontier point #{result.recommended} (weights)",
                        index=result.recommended,
                        readiness=plan_readiness(inp, rec, base_dir=base_dir))]
    for b in result.baselines:
        plans.append(outcome_of(b.name, "baseline", b.plan, sim.run(dict(b.plan.assignment)),
                                stage, description=b.description,
                                readiness=plan_readiness(inp, b.plan, base_dir=base_dir)))
    frontier = [outcome_of(f"#{i}", "frontier", p, sim.run(dict(p.assignment)), stage,
                           index=i, keep_curves=False)
                for i, p in enumerate(result.frontier)]
    last_load = sim.loads[sim.seeds[0]][stage]
    return ScenarioOutcome(
        key=scenario.key, title=scenario.title, spec=scenario.spec.name, stage=stage,
        mode=scenario.mode, mapping=scenario.mapping, sources=scenario.sources,
        facts=scenario.facts, profile=profile or {}, filled=filled or {},
        slo=_slo_text(declared, stage), slo_s=_slo_seconds(declared, stage),
        slo_relaxed=relaxed,
        horizon_h=last_load.horizon_s / 3600.0,
        frontier_points=len(result.frontier),
        frontier_complete=result.solver.all_proven_optimal,
        planner_notes=result.notes, plans=tuple(plans), frontier=tuple(frontier),
        dominance=_dominance(frontier, [p for p in plans if p.kind == "baseline"]),
        online_plot=scenario.online_plot)


def relax_unattainable_slo(inp: PlanningInput, stage: str
                           ) -> tuple[PlanningInput, str | None]:
    """The input with the stage's SLO set to the best the planner's model can promise.

    Used only when the gates leave the stage without options: a team then takes the
    planner's smallest relaxation and checks it in operation. Returns the input unchanged
    (and ``None``) when the declared SLO is attainable on paper.
    """
    from airflow_cloudplan.optimize.candidates import enumerate_options
    from airflow_cloudplan.optimize.latency import stage_latency_ms

    st = inp.pipeline.stage_by_name[stage]
    finite = [v for v in (stage_latency_ms(inp, stage, o) for o in enumerate_options(inp)[stage])
              if math.isfinite(v)]
    if not finite:
        return inp, None
    best_ms = min(finite)
    slo = st.slo
    if slo.p95_ms is not None and best_ms > slo.p95_ms:
        relaxed = math.ceil(best_ms / 1000.0) * 1000.0
        new_slo = slo.model_copy(update={"p95_ms": relaxed})
        text = (f"p95 ≤ {slo.p95_ms / 1000:g} s admits no option (the model's best p95 is "
                f"{best_ms / 1000:.1f} s); planned with p95 ≤ {relaxed / 1000:g} s")
    elif slo.deadline_minutes is not None and best_ms > slo.deadline_minutes * 60_000.0:
        relaxed = float(math.ceil(best_ms / 60_000.0))
        new_slo = slo.model_copy(update={"deadline_minutes": relaxed})
        text = (f"completion ≤ {slo.deadline_minutes:g} min admits no option (the model's best "
                f"is {best_ms / 60_000:.1f} min); planned with {relaxed:g} min")
    else:
        return inp, None
    data = inp.pipeline.model_dump(mode="json")
    for s in data["stages"]:
        if s["name"] == stage:
            s["slo"] = new_slo.model_dump(mode="json")
    return inp.model_copy(update={"pipeline": Pipeline.model_validate(data)}), text


def plan_or_relax(inp: PlanningInput, stage: str, *, sha: str, base_dir: Path | None,
                  plan_time_s: float) -> tuple[PlanningInput, PlanResult, str | None]:
    """Plan; when the SLO gate empties the stage, plan again under the attainable SLO."""
    from airflow_cloudplan.errors import SolverError
    from airflow_cloudplan.optimize.planner import plan

    try:
        return inp, plan(inp, spec_sha256=sha, base_dir=base_dir,
                         total_time_s=plan_time_s), None
    except SolverError:
        relaxed_inp, text = relax_unattainable_slo(inp, stage)
        if text is None:
            raise
        return relaxed_inp, plan(relaxed_inp, spec_sha256=sha, base_dir=base_dir,
                                 total_time_s=plan_time_s), text


def evaluate_scenario(scenario: Scenario, catalog: Catalog, *, cfg: SimConfig,
                      seeds: Sequence[int], progress: Progress = _quiet,
                      plan_time_s: float = 120.0) -> ScenarioOutcome:
    """The whole protocol for one built-in scenario."""
    started = time.perf_counter()
    progress(f"{scenario.key}: profiling {', '.join(scenario.sources)}")
    inp, sha, profile, filled = scenario_input(scenario, catalog)
    progress(f"{scenario.key}: planning ({time.perf_counter() - started:.1f} s)")
    planned_inp, result, relaxed = plan_or_relax(inp, scenario.stage, sha=sha,
                                                 base_dir=scenario.spec.parent,
                                                 plan_time_s=plan_time_s)
    if relaxed:
        progress(f"{scenario.key}: {relaxed}")
    progress(f"{scenario.key}: {len(result.frontier)} frontier points, simulating "
             f"({time.perf_counter() - started:.1f} s)")
    out = evaluate_planned(scenario, planned_inp, result, cfg=cfg, seeds=seeds,
                           base_dir=scenario.spec.parent, progress=progress, profile=profile,
                           filled=filled, declared=inp.pipeline, relaxed=relaxed)
    progress(f"{scenario.key}: done in {time.perf_counter() - started:.1f} s")
    return out


def stderr_progress(message: str) -> None:
    """Progress lines on stderr."""
    print(message, file=sys.stderr, flush=True)


__all__ = ["DEFAULT_SEEDS", "SHARED_ASSUMPTIONS", "Dominance", "Evaluation", "PlanOutcome",
           "ScenarioOutcome", "Stat", "dominates", "evaluate_planned", "evaluate_scenario",
           "fill_stage", "outcome_of", "profile_through_profiler", "scenario_input",
           "stderr_progress"]
