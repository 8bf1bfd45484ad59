"""Runbooks: one Markdown page per stage and alert, written from the plan.

Each page says what the alert means (SLO, target, windows), which queries to open, the
likely causes given the stage's I/O archetype and placement (tier, spot, data access
strategy, cross-region inputs), the remediation playbook (scale, fail over to an admitted
region, roll back the plan) and who owns the stage.
"""

from __future__ import annotations

from airflow_cloudplan.dataflow.locations import via_storage
from airflow_cloudplan.errors import Problem
from airflow_cloudplan.model.catalog import TierKind
from airflow_cloudplan.model.plan import AccessStrategy, ScalingPolicy
from airflow_cloudplan.model.workload import Archetype, ExecutionMode
from airflow_cloudplan.runops.base import Artifact, Emitter
from airflow_cloudplan.runops.context import ComposeContext, StagePlacement
from airflow_cloudplan.runops.settings import format_duration
from airflow_cloudplan.runops.slo import RECORD_PREFIX, SLOSpec, go_float, runbook_path, slos_of

_ARCHETYPE_CAUSES = {
    Archetype.LARGE_SEQUENTIAL: "large sequential reads: throughput-bound; a slow or "
    "throttled object store (S3 503 SlowDown) or reduced network bandwidth stretches runs",
    Archetype.RANDOM_READ: "random reads: latency-bound; each cache miss or cross-region "
    "round trip adds directly to run time; check first-byte latency",
    Archetype.STREAM_APPEND: "stream appends: back-pressure from the sink or a lagging "
    "consumer shows as timeouts and retries",
    Archetype.MIXED: "mixed I/O: look at both throughput (bytes read per run) and request "
    "latency (read operations per run)",
}
_ACCESS_CAUSES = {
    AccessStrategy.DIRECT: "reads go directly to the dataset's home region",
    AccessStrategy.REGIONAL_CACHE: "reads go through a regional cache: an expired or cold "
    "cache sends reads back to the home region",
    AccessStrategy.SELECTIVE_REPLICATION: "reads use a replica: replication lag serves stale "
    "or missing objects",
    AccessStrategy.PARTITIONED_LOCALITY: "reads are partitioned by locality: a skewed "
    "partition overloads one replica",
}


def _causes(ctx: ComposeContext, p: StagePlacement, slo: SLOSpec) -> list[str]:
    causes = [_ARCHETYPE_CAUSES[_archetype(ctx, p)], _ACCESS_CAUSES[p.option.access]]
    caps = p.tier.capabilities
    if p.tier.kind == TierKind.SERVERLESS or caps.scale_to_zero:
        causes.append(f"cold starts on {p.option.tier} (about {caps.cold_start_s:g} s each)")
    if p.option.spot:
        causes.append("spot capacity was reclaimed (interruptions show as failed runs)")
    if p.option.scaling != ScalingPolicy.STATIC:
        causes.append(f"{p.option.scaling} scaling lags a burst: each replica takes about "
                      f"{caps.scale_step_s:g} s to add (up to {p.option.replicas_max})")
    if caps.max_request_timeout_s is not None:
        causes.append(f"runs longer than the tier's {caps.max_request_timeout_s:g} s "
                      "invocation limit are killed")
    for edge in ctx.inp.pipeline.edges:
        if edge.dst != p.name:
            continue
        src = ctx.plan.recommendation.assignment.get(edge.src)
        if via_storage(ctx.inp.pipeline, edge):
            continue  # its bytes go through dataset homes (the read/write causes above)
        if src is not None and src.region != p.option.region:
            causes.append(f"input from {edge.src} crosses regions ({src.region} → "
                          f"{p.option.region}, {edge.gb_per_run:g} GB per run)")
    if slo.sli == "latency" and p.stage.mode == ExecutionMode.ONLINE:
        causes.append("queueing: arrival bursts above the replicas' capacity raise p95 first")
    return causes


def _archetype(ctx: ComposeContext, p: StagePlacement) -> Archetype:
    profile = ctx.inp.profile_of(p.name)
    if profile is not None and profile.archetype is not None:
        return profile.archetype
    for name in p.stage.reads:
        ds = ctx.inp.pipeline.dataset_by_name.get(name)
        if ds is not None:
            return ds.archetype
    return Archetype.MIXED


def _failover_regions(ctx: ComposeContext, p: StagePlacement) -> list[str]:
    regions = {
        point.assignment[p.name].region
        for point in ctx.plan.frontier
        if p.name in point.assignment
    }
    cls = p.sensitivity
    for region in ctx.inp.pipeline.candidate_regions or (r.id for r in ctx.inp.catalog.regions):
        try:
            jurisdiction = ctx.inp.catalog.region(region).jurisdiction
        except KeyError:
            continue
        if p.stage.allowed_regions is not None and region not in p.stage.allowed_regions:
            continue
        if (cls is not None and cls.allowed_regions is not None
                and region not in cls.allowed_regions):
            continue
        if (cls is not None and cls.allowed_jurisdictions is not None
                and jurisdiction not in cls.allowed_jurisdictions):
            continue
        if region == p.option.region or region in regions or p.region.jurisdiction == jurisdiction:
            regions.add(region)
    regions.discard(p.option.region)
    return sorted(regions)


def runbook(ctx: ComposeContext, p: StagePlacement, slo: SLOSpec, severity: str) -> str:
    """The Markdown runbook of one alert of one stage."""
    alert = slo.alert_name(severity)
    policy = ctx.settings.burn_rate
    windows = [f"{w.long}/{w.short} at {go_float(policy.factor(w))}×"
               for w in policy.of_severity(severity)]
    sel = slo.selector
    short = min(w.short_s for w in policy.of_severity(severity))
    o = p.option
    failover = _failover_regions(ctx, p)
    lines = [
        f"# {alert}: {ctx.pipeline_name} / {p.name}",
        "",
        "## What it means",
        "",
        f"The {slo.sli} SLO of stage `{p.name}` ({slo.description}, target "
        f"{slo.target:.4g} over {policy.period_days} days) is burning its error budget "
        f"fast enough to {'page' if severity == 'page' else 'open a ticket'}: "
        f"{'; '.join(windows)} (both windows of a pair above the threshold).",
        "",
        "## Placement",
        "",
        f"- region `{o.region}`, zone `{o.zone}`, tier `{o.tier}` ({p.tier.kind}), "
        f"instance `{o.instance_type}`{' (spot)' if o.spot else ''}",
        f"- replicas {o.replicas_min}–{o.replicas_max}, scaling `{o.scaling}`, "
        f"data access `{o.access}`, identity `{o.isolation}`",
        f"- mode `{p.stage.mode}`, criticality `{p.stage.criticality}`"
        f"{', on the critical path' if p.on_critical_path else ''}",
        "",
        "## Queries to open",
        "",
        f"- error ratio: `{RECORD_PREFIX}{format_duration(short)}{sel}`",
        f"- burn rate now: `slo:current_burn_rate:ratio{sel}` (1 = the budget lasts "
        "exactly the period)",
        f"- budget left this period: `slo:period_error_budget_remaining:ratio{sel}`",
        f"- raw series: `{slo.total}`",
        f"- traces and logs: resource `service.name = \"{ctx.pipeline_name}.{p.name}\"`, "
        f"`cloud.region = \"{o.region}\"`",
        f"- Airflow: task runs of `{(p.stage.airflow.task_id if p.stage.airflow else p.name)}` "
        "(failed tries, queued time, pool usage)",
        "",
        "## Likely causes",
        "",
        *[f"- {c}" for c in _causes(ctx, p, slo)],
        "",
        "## Remediation",
        "",
        f"1. **Scale**: raise replicas towards {max(o.replicas_max, 1) * 2} or pick a larger "
        f"instance than `{o.instance_type}`; check the pool's slots.",
        "2. **Fail over region**: "
        + (f"admitted alternatives are {', '.join(f'`{r}`' for r in failover)}; re-plan with "
           "the current region excluded (`allowed_regions`) and apply after review."
           if failover else "no other region is admitted for this stage's data; scale "
           "instead."),
        f"3. **Roll back the plan**: `cloudplan rollback {ctx.pipeline_name}` restores the "
        "previous approved plan version (pools, executors and settings).",
        "",
        "## Owners",
        "",
        f"- stage owner: `{p.stage.owner}`",
        "",
    ]
    return "\n".join(lines)


class RunbookEmitter(Emitter):
    """``runbooks/<stage>/<alert>.md`` for every alert of every stage."""

    name = "runbooks"

    def build(self, ctx: ComposeContext) -> list[Artifact]:
        """One runbook per stage and alert."""
        out = []
        severities = ctx.settings.burn_rate.severities()
        for p in ctx.placements:
            for slo in slos_of(ctx, p):
                for severity in severities:
                    out.append(Artifact(
                        path=runbook_path(p.name, slo.alert_name(severity)),
                        content=runbook(ctx, p, slo, severity).encode(),
                        kind="runbook", stage=p.name,
                        evidence=f"runbook:{p.name}:{slo.alert_name(severity)}",
                    ))
        return out


def check_runbooks_linked(artifacts: list[Artifact]) -> list[Problem]:
    """Every alert's ``runbook_url`` is a runbook of the bundle, and every runbook has an alert.

    Read from the generated files: a runbook for an alert that was not generated (or an
    alert whose runbook is missing) is evidence that cannot work.
    """
    import yaml

    runbooks = {a.path for a in artifacts if a.kind == "runbook"}
    linked: set[str] = set()
    problems = []
    for a in artifacts:
        if a.kind != "prometheus-rules":
            continue
        for group in (yaml.safe_load(a.content) or {}).get("groups", []):
            for rule in group.get("rules", []):
                if "alert" not in rule:
                    continue
                url = (rule.get("annotations") or {}).get("runbook_url")
                if url not in runbooks:
                    problems.append(Problem(
                        message=f"alert {rule['alert']} links runbook {url!r}, which the "
                        "bundle does not contain", file=a.path, path=rule["alert"],
                        hint="generate a runbook for every alert"))
                linked.add(str(url))
    for path in sorted(runbooks - linked):
        problems.append(Problem(message="runbook documents an alert that no rule file "
                                "defines", file=path, hint="drop runbooks of alerts that "
                                "are not generated"))
    return problems
