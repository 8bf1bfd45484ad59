"""The protocol on a team's own pipeline: their spec, profiles, arrival file and plan.

What is replayed:

* the online stage named by ``stage`` (or the pipeline's only online stage) replays the
  arrival file as recorded; each request's service time is the file's ``service_column``
  (seconds on the stage's reference device) when given, else drawn lognormal around the
  spec's ``service_ms_per_request`` (÷ the accelerator speed-up) with cv² 1;
* other online stages get renewal arrivals (gamma gaps) at their measured or declared
  rate and cv² over the same window — declared load, not replayed, and said so;
* batch stages run their measured (else declared) runs per day, evenly spaced over the
  window; each run is one data-parallel job of the measured CPU seconds (else the
  declared ``vcpu_seconds``), ÷ the accelerator speed-up, varied from run to run by a
  lognormal fitted to the profile's median and mean duration when there is one.

The window is the arrival file's span, or ``days`` when the pipeline has no online stage.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

from airflow_cloudplan.errors import Problem, SpecError
from airflow_cloudplan.model.context import PlanningInput
from airflow_cloudplan.model.plan import PlanResult
from airflow_cloudplan.model.workload import ExecutionMode, Stage
from airflow_cloudplan.simulate.protocol.scenarios import Scenario
from airflow_cloudplan.simulate.workload import BatchLoad, BatchRun, OnlineLoad

ONLINE = (ExecutionMode.ONLINE, ExecutionMode.STREAMING)


def _bad(what: str, where: str, hint: str) -> SpecError:
    return SpecError("cannot evaluate this pipeline", [Problem(what, path=where, hint=hint)])


def _reference_s(stage: Stage, one_vcpu_s: float) -> float:
    """Seconds on the stage's reference device for ``one_vcpu_s`` seconds on one vCPU."""
    if stage.compute.accelerator:
        return one_vcpu_s / stage.compute.accelerator_speedup
    return one_vcpu_s


def read_column(path: Path, column: str) -> Any:
    """A numeric CSV column as a numpy array (errors name the file, line and column)."""
    import numpy as np

    values: list[float] = []
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        if reader.fieldnames is None or column not in reader.fieldnames:
            raise SpecError(f"{path}: no column {column!r}", [Problem(
                f"columns are {reader.fieldnames}", file=str(path),
                hint="name the column with --service-column")])
        for line, row in enumerate(reader, 2):
            try:
                values.append(float(row[column]))
            except ValueError:
                raise SpecError(f"{path}: {column} is not a number", [Problem(
                    f"{row[column]!r}", file=str(path), line=line,
                    hint="give service times in seconds")]) from None
    return np.asarray(values)


def pick_online_stage(inp: PlanningInput, stage: str | None) -> str | None:
    """The online stage the arrival file drives (None when the pipeline has none)."""
    online = [s.name for s in inp.pipeline.stages if s.mode in ONLINE]
    if stage is not None:
        if stage not in inp.pipeline.stage_by_name:
            raise _bad(f"no stage {stage!r}", "--stage",
                       f"one of {', '.join(inp.pipeline.stage_by_name)}")
        return stage
    if len(online) > 1:
        raise _bad(f"{len(online)} online stages ({', '.join(online)})", "--stage",
                   "name the stage the arrival file belongs to")
    return online[0] if online else None


def user_scenario(inp: PlanningInput, spec_path: Path, *, arrivals: Path | None,
                  column: str, service_column: str | None, stage: str | None,
                  days: float) -> Scenario:
    """A :class:`Scenario` replaying the team's own workload (see the module docstring)."""
    import numpy as np

    from airflow_cloudplan.simulate.trace import load_arrival_trace

    driven = pick_online_stage(inp, stage)
    times = None
    service = None
    if arrivals is not None:
        if driven is None or inp.pipeline.stage_by_name[driven].mode not in ONLINE:
            raise _bad("an arrival file drives an online stage", "--stage",
                       "name an online stage, or drop --arrivals for batch-only pipelines")
        try:
            trace = load_arrival_trace(arrivals, column)
        except (OSError, ValueError) as exc:
            raise SpecError(f"{arrivals}: cannot read the arrival trace", [Problem(
                str(exc), file=str(arrivals),
                hint="a CSV with one request per row and a timestamp column "
                     "(--arrival-column)")]) from None
        times = np.asarray(trace.times_s)
        if service_column:
            service = read_column(arrivals, service_column)
            if len(service) != len(times):
                raise _bad("service times and arrivals differ in number", service_column,
                           "give one service time per request")
    elif driven is not None:
        raise _bad(f"online stage {driven!r} needs an arrival trace", "--arrivals",
                   "pass the CSV of its request timestamps")
    horizon = float(times[-1]) if times is not None and len(times) > 1 else days * 86400.0
    primary = driven or inp.pipeline.topological_order()[-1]

    def loads(seed: int) -> dict[str, OnlineLoad | BatchLoad]:
        rng = np.random.default_rng([seed, 7])
        out: dict[str, OnlineLoad | BatchLoad] = {}
        for st in inp.pipeline.stages:
            if st.mode in ONLINE:
                mine = st.name == driven
                out[st.name] = _online_load(inp, st, rng, horizon,
                                            times=times if mine else None,
                                            service=service if mine else None)
            else:
                out[st.name] = _batch_load(inp, st, rng, horizon)
        return out

    what = (f"{len(times):,} recorded arrivals of {arrivals.name} drive `{driven}`"
            if times is not None and arrivals is not None else "no arrival file")
    return Scenario(
        key=inp.pipeline.name, title=f"{inp.pipeline.name}: your plan in operation",
        spec=spec_path, stage=primary,
        mode="online" if inp.pipeline.stage_by_name[primary].mode in ONLINE else "batch",
        sources=(arrivals.name,) if arrivals is not None else (),
        mapping=f"{what}; other stages replay their measured or declared load "
                f"(see `airflow_cloudplan/simulate/protocol/user.py`)",
        profile_rows=None, load=lambda seed: loads(seed)[primary],
        other_loads=lambda seed: {k: v for k, v in loads(seed).items() if k != primary},
        facts={"window": f"{horizon / 3600:,.1f} h"}, online_plot=driven is not None)


def _online_load(inp: PlanningInput, st: Stage, rng: Any, horizon: float, *,
                 times: Any, service: Any) -> OnlineLoad:
    import numpy as np

    from airflow_cloudplan.simulate.queue import draw

    mean_s = _reference_s(st, st.compute.service_ms_per_request / 1000.0)
    if times is None:
        prof = inp.profile_of(st.name)
        rate = st.load.mean_rps
        cv2 = st.load.cv2
        if prof is not None and prof.n_runs > 0 and prof.arrivals is not None:
            rate, cv2 = prof.arrivals.rate_per_s, prof.arrivals.cv2
        if rate <= 0:
            raise _bad(f"online stage {st.name!r} has no arrival rate", f"stages.{st.name}.load",
                       "declare load.mean_rps or give its arrival file")
        gaps = draw(rng, 1.0 / rate, cv2, max(2, math.ceil(rate * horizon * 1.2)), "gamma")
        times = np.cumsum(gaps)
        times = times[times < horizon]
    svc = service if service is not None else draw(rng, mean_s, 1.0, len(times), "lognormal")
    return OnlineLoad(np.asarray(times, dtype=float), svc, horizon, st.name)


def _batch_load(inp: PlanningInput, st: Stage, rng: Any, horizon: float) -> BatchLoad:
    import numpy as np

    prof = inp.profile_of(st.name)
    per_day = st.load.runs_per_day
    vcpu_s = st.compute.vcpu_seconds
    sigma = 0.0
    if prof is not None and prof.n_runs > 0:
        if prof.arrivals is not None and prof.arrivals.rate_per_s > 0:
            per_day = prof.arrivals.rate_per_s * 86400.0
        if prof.resources is not None and prof.resources.cpu_seconds > 0:
            vcpu_s = prof.resources.cpu_seconds
        d = prof.duration
        if d is not None and d.p50_s > 0 and d.mean_s > d.p50_s:
            sigma = math.sqrt(2.0 * math.log(d.mean_s / d.p50_s))
    step = 86400.0 / per_day
    n = max(1, math.floor(horizon / step))
    work = _reference_s(st, vcpu_s)
    factors = (rng.lognormal(-sigma * sigma / 2.0, sigma, n) if sigma > 0
               else np.ones(n))
    runs = tuple(BatchRun(i * step, np.array([work * f]), divisible=True, epochs=st.epochs)
                 for i, f in enumerate(factors))
    return BatchLoad(runs, max(horizon, n * step), st.name, schedule_known=True)


def check_plan_matches(plan: PlanResult, inp: PlanningInput, path: str) -> None:
    """The plan is for this pipeline and assigns every stage."""
    problems = []
    if plan.pipeline != inp.pipeline.name:
        problems.append(Problem(f"plan is for {plan.pipeline!r}, spec is {inp.pipeline.name!r}",
                                file=path, hint="pass the spec the plan was made from"))
    missing = set(inp.pipeline.stage_by_name) - set(plan.recommendation.assignment)
    problems += [Problem(f"the recommendation assigns no option to {k!r}", file=path,
                         hint="re-plan with this spec") for k in sorted(missing)]
    if problems:
        raise SpecError(f"{path}: the plan does not match the spec", problems)


__all__ = ["check_plan_matches", "pick_online_stage", "read_column", "user_scenario"]
