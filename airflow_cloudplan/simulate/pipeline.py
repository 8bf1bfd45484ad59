"""Simulate a whole plan: every stage under its option, data handed along the DAG's edges.

Batch stages run in DAG order: a run of a stage with batch predecessors is submitted when
the same pipeline run of every predecessor has finished and its output has crossed to this
stage's region (the edge's GB at the measured throughput of the region pair, billed as
egress). Online stages replay their own request traces. The plan's simulated latency is
the planner's L measured in operation: the longest DAG path of batch mean completion
times (queueing included), online p95s and edge transfer times.

Only the plan's assignment is read (as data); nothing here imports the planner's models.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from airflow_cloudplan.errors import Problem, SpecError
from airflow_cloudplan.model.catalog import Catalog
from airflow_cloudplan.model.plan import StageOption
from airflow_cloudplan.model.workload import Pipeline
from airflow_cloudplan.simulate.batch import simulate_batch
from airflow_cloudplan.simulate.billing import SECONDS_PER_MONTH, CostMeter
from airflow_cloudplan.simulate.config import SimConfig
from airflow_cloudplan.simulate.facts import egress_usd_per_gb, link_mb_s, stage_facts
from airflow_cloudplan.simulate.forecast import RateForecast
from airflow_cloudplan.simulate.online import simulate_online
from airflow_cloudplan.simulate.results import PlanSim, StageSim, sim_cost, summarise, time_series
from airflow_cloudplan.simulate.workload import BatchLoad, BatchRun, OnlineLoad

StageLoad = OnlineLoad | BatchLoad


def _check(pipeline: Pipeline, assignment: Mapping[str, StageOption],
           loads: Mapping[str, StageLoad]) -> None:
    problems: list[Problem] = []
    for s in pipeline.stages:
        if s.name not in assignment:
            problems.append(Problem(f"no option for stage '{s.name}'", path=s.name,
                                    hint="simulate a complete plan"))
        load = loads.get(s.name)
        online = s.mode.value in ("online", "streaming")
        if load is None:
            problems.append(Problem(f"no workload for stage '{s.name}'", path=s.name,
                                    hint="give its arrival trace or run history"))
        elif online != isinstance(load, OnlineLoad):
            problems.append(Problem(
                f"stage '{s.name}' is {s.mode.value} but its workload is "
                f"{'requests' if isinstance(load, OnlineLoad) else 'runs'}", path=s.name,
                hint="online stages replay requests, batch stages replay runs"))
    if problems:
        raise SpecError("cannot simulate the plan", problems)


def _transfer_s(catalog: Catalog, gb: float, src: str, dst: str) -> float:
    return gb * 1000.0 / link_mb_s(catalog, src, dst) if gb > 0 else 0.0


def _online_stage(catalog: Catalog, pipeline: Pipeline, option: StageOption, load: OnlineLoad,
                  cfg: SimConfig, *, seed: int, forecast: RateForecast | None,
                  with_series: bool) -> StageSim:
    import numpy as np

    stage = pipeline.stage_by_name[option.stage]
    facts = stage_facts(catalog, pipeline, option, cfg)
    out = simulate_online(catalog, facts, load, cfg, seed=seed, forecast=forecast)
    slo = stage.slo.p95_ms / 1000.0 if stage.slo.p95_ms else None
    lat = out.response_s
    latency, cdf = summarise(lat)
    bad = np.isnan(lat) | (lat > slo) if slo else np.isnan(lat)
    series = (time_series(out.arrivals_s, lat, slo, timeline=out.timeline, span_s=out.span_s,
                          bucket_s=cfg.bucket_s) if with_series else None)
    return StageSim(stage=stage.name, mode="online", option=option.id, latency=latency,
                    cdf_s=cdf, slo_s=slo, violations=int(bad.sum()), total=len(lat),
                    cost=sim_cost(out.meter, out.span_s), launches=out.launches,
                    interruptions=out.interruptions, cold_waits=out.cold_waits, series=series)


def _batch_stage(catalog: Catalog, pipeline: Pipeline, option: StageOption, load: BatchLoad,
                 cfg: SimConfig, *, seed: int, forecast: RateForecast | None
                 ) -> tuple[StageSim, Any]:
    """The stage's summary and the finish time of every run (NaN: never finished)."""
    import numpy as np

    stage = pipeline.stage_by_name[option.stage]
    facts = stage_facts(catalog, pipeline, option, cfg)
    submitted = [k for k, r in enumerate(load.runs) if math.isfinite(r.submit_s)]
    finish = np.full(len(load.runs), np.nan)
    if submitted:
        kept = BatchLoad(tuple(load.runs[k] for k in submitted), load.horizon_s, load.source)
        out = simulate_batch(catalog, facts, kept, cfg, seed=seed, forecast=forecast)
        finish[submitted] = out.finish_s
        cost, launches = sim_cost(out.meter, out.span_s), out.launches
        interruptions, restarts = out.interruptions, out.restarts
    else:  # no run ever reached this stage
        cost = sim_cost(CostMeter(catalog), load.horizon_s)
        launches = interruptions = restarts = 0
    completion = finish - np.asarray([r.submit_s for r in load.runs])
    slo = stage.slo.deadline_minutes * 60.0 if stage.slo.deadline_minutes else None
    latency, cdf = summarise(completion)
    bad = np.isnan(completion) | (completion > slo) if slo else np.isnan(completion)
    return (StageSim(stage=stage.name, mode="batch", option=option.id, latency=latency,
                     cdf_s=cdf, slo_s=slo, violations=int(bad.sum()), total=len(completion),
                     cost=cost, launches=launches, interruptions=interruptions,
                     restarts=restarts), finish)


def simulate_plan(catalog: Catalog, pipeline: Pipeline, assignment: Mapping[str, StageOption],
                  loads: Mapping[str, StageLoad], cfg: SimConfig | None = None, *, seed: int,
                  forecasts: Mapping[str, RateForecast] | None = None,
                  with_series: bool = True) -> PlanSim:
    """Simulate every stage of a plan under the same seed (common random numbers)."""
    cfg = cfg or SimConfig()
    forecasts = forecasts or {}
    _check(pipeline, assignment, loads)
    order = pipeline.topological_order()
    finish: dict[str, Any] = {}
    sims: dict[str, StageSim] = {}
    for k in order:
        option, load = assignment[k], loads[k]
        if isinstance(load, OnlineLoad):
            sims[k] = _online_stage(catalog, pipeline, option, load, cfg, seed=seed,
                                    forecast=forecasts.get(k), with_series=with_series)
            continue
        upstream = [e for e in pipeline.edges if e.dst == k and e.src in finish]
        if upstream:  # submitted when every predecessor's output has arrived
            runs = []
            for i, run in enumerate(load.runs):
                arrivals = [float(finish[e.src][i]) + _transfer_s(
                    catalog, e.gb_per_run, assignment[e.src].region, option.region)
                    for e in upstream]
                never = any(math.isnan(t) for t in arrivals)  # a predecessor never finished
                submit = math.inf if never else max(arrivals)
                runs.append(BatchRun(submit, run.work_s, run.divisible, run.epochs))
            load = BatchLoad(tuple(runs), load.horizon_s, load.source)
        sims[k], finish[k] = _batch_stage(catalog, pipeline, option, load, cfg, seed=seed,
                                          forecast=forecasts.get(k))
    edge_usd = 0.0
    for e in pipeline.edges:
        src_load = loads[e.src]
        if isinstance(src_load, BatchLoad) and e.gb_per_run > 0:
            runs_per_s = len(src_load.runs) / sims[e.src].cost.span_s
            edge_usd += (e.gb_per_run * runs_per_s * SECONDS_PER_MONTH * egress_usd_per_gb(
                catalog, assignment[e.src].region, assignment[e.dst].region))
    misses, runs_n = _deadline_misses(pipeline, loads, finish)
    return PlanSim(seed=seed, stages=tuple(sims[k] for k in order),
                   edge_egress_usd_month=edge_usd,
                   latency_s=_longest_path(catalog, pipeline, assignment, sims),
                   deadline_misses=misses, pipeline_runs=runs_n)


def _longest_path(catalog: Catalog, pipeline: Pipeline, assignment: Mapping[str, StageOption],
                  sims: Mapping[str, StageSim]) -> float:
    done: dict[str, float] = {}
    for k in pipeline.topological_order():
        s = sims[k]
        own = s.latency.p95_s if s.mode == "online" else s.latency.mean_s
        start = 0.0
        for e in pipeline.edges:
            if e.dst == k:
                start = max(start, done[e.src] + _transfer_s(
                    catalog, e.gb_per_run, assignment[e.src].region, assignment[k].region))
        done[k] = start + own
    return max(done.values(), default=0.0)


def _deadline_misses(pipeline: Pipeline, loads: Mapping[str, StageLoad],
                     finish: Mapping[str, Any]) -> tuple[int, int]:
    """Pipeline runs that missed the end-to-end deadline (batch stages), and the runs."""
    import numpy as np

    if not finish:
        return 0, 0
    n = min(len(v) for v in finish.values())
    sources = [k for k in finish
               if not any(e.dst == k and e.src in finish for e in pipeline.edges)]
    start = np.min([[r.submit_s for r in loads[k].runs][:n]  # type: ignore[union-attr]
                    for k in sources], axis=0)
    end = np.max([np.asarray(v)[:n] for v in finish.values()], axis=0)
    if pipeline.deadline_minutes is None:
        return int(np.isnan(end).sum()), n
    late = np.isnan(end) | (end - start > pipeline.deadline_minutes * 60.0)
    return int(late.sum()), n


__all__ = ["StageLoad", "simulate_plan"]
