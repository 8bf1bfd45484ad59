"""Planning problems for benchmarks and property tests, built without a pipeline spec.

Two generators, for two purposes:

* :func:`catalog_problem` — realistic: N stages × M options per stage over a DAG of data
  edges, priced from a real :class:`Catalog` (instance prices per region, inter-region
  egress, measured inter-region throughput, object-storage prices). Stage work, data
  sizes and run frequencies are drawn from ranges typical of ML pipelines (ingest,
  features, training, batch inference, serving). It exists so the solver can be
  benchmarked at 20 × 500 or 50 × 2,000 without writing a 50-stage spec.
* :func:`random_problem` — small abstract problems with random numbers for property tests
  and brute-force comparison; no prices, by design.

Option scores in :func:`catalog_problem` follow the same shape as the real models (compute
= hourly price × replica-hours under the scaling policy; storage for replicas/caches;
reads of a remote dataset pay egress per epoch; exposure grows with copies of the data and
with a shared identity) but are deliberately simpler: these problems test the solver, they
do not replace ``optimize.scoring``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from airflow_cloudplan.model.catalog import Catalog, InstancePrice, StorageKind
from airflow_cloudplan.model.plan import AccessStrategy, Isolation, ScalingPolicy, StageOption
from airflow_cloudplan.optimize.problem import PlanningProblem, ProblemEdge, ProblemOption

HOURS_PER_MONTH = 730.0
MS_PER_GB_AT_1_GBPS = 8000.0  # 1 GB = 8 Gb; at 1 Gb/s that is 8 s

_ACCESS = tuple(AccessStrategy)
_SCALING = tuple(ScalingPolicy)
# (fraction of remote bytes read per epoch, extra stored copies, exposure added)
_ACCESS_SHAPE = {
    AccessStrategy.DIRECT: (1.0, 0.0, 0.0),
    AccessStrategy.REGIONAL_CACHE: (0.35, 0.3, 1.0),
    AccessStrategy.SELECTIVE_REPLICATION: (0.0, 1.0, 2.0),
    AccessStrategy.PARTITIONED_LOCALITY: (0.15, 0.5, 1.5),
}
# (share of the month replicas are paid, latency added in ms by scaling reactions)
_SCALING_SHAPE = {
    ScalingPolicy.STATIC: (1.0, 0.0),
    ScalingPolicy.RULE_BASED: (0.45, 90_000.0),
    ScalingPolicy.PREDICTIVE: (0.55, 20_000.0),
}


@dataclass(frozen=True)
class _StageShape:
    work_vcpu_h: float  # vCPU-hours of one run on one reference vCPU
    parallel: float
    memory_gib: float
    dataset_gb: float
    home: str
    runs_per_month: float
    epochs: int
    reach: float
    sensitivity: str


def _stage_shapes(rng: random.Random, n: int, regions: list[str]) -> list[_StageShape]:
    shapes = []
    for _ in range(n):
        heavy = rng.random() < 0.3
        shapes.append(_StageShape(
            work_vcpu_h=rng.lognormvariate(2.5 if heavy else 0.5, 0.8),
            parallel=rng.uniform(0.7, 0.98),
            memory_gib=rng.choice((2.0, 4.0, 8.0, 16.0, 32.0)),
            dataset_gb=rng.lognormvariate(4.0 if heavy else 2.0, 1.0),
            home=rng.choice(regions),
            runs_per_month=rng.choice((30.0, 30.0, 120.0, 720.0)),
            epochs=rng.choice((1, 1, 1, 5, 20)) if heavy else 1,
            reach=float(rng.randint(1, 10)),
            sensitivity=rng.choice(("internal", "internal", "confidential", "restricted")),
        ))
    return shapes


def _dag_edges(rng: random.Random, stages: list[str], shapes: list[_StageShape]
               ) -> list[ProblemEdge]:
    edges = []
    for j in range(1, len(stages)):
        preds = {j - 1} if rng.random() < 0.7 else {rng.randrange(j)}
        if j >= 2 and rng.random() < 0.3:
            preds.add(rng.randrange(j - 1))
        for i in sorted(preds):
            gb_run = shapes[i].dataset_gb * rng.uniform(0.05, 0.5)
            edges.append(ProblemEdge(stages[i], stages[j], gb_run * shapes[j].runs_per_month,
                                     gb_run))
    return edges


def _transfer_ms_per_gb(catalog: Catalog, src: str, dst: str) -> float:
    try:
        gbps = catalog.throughput_gbps(src, dst)
    except KeyError:
        gbps = 1.0  # unmeasured pair: assume 1 Gb/s (documented in docs/optimizer.md)
    return MS_PER_GB_AT_1_GBPS / gbps


def catalog_problem(catalog: Catalog, n_stages: int, n_options: int, *, seed: int = 0,
                    regions: list[str] | None = None, deadline_factor: float | None = None,
                    ) -> PlanningProblem:
    """A realistic problem priced from ``catalog`` (see the module docstring).

    ``deadline_factor`` (e.g. 1.5) sets ``deadline_ms`` to that multiple of a greedy
    fastest plan's latency, making the deadline a real coupling constraint.
    """
    rng = random.Random(seed)
    region_ids = regions or [r.id for r in catalog.regions]
    priced = [p for p in catalog.prices if p.region in region_ids]
    storage = catalog.storage_class(StorageKind.OBJECT)
    stages = [f"s{k:03d}" for k in range(n_stages)]
    shapes = _stage_shapes(rng, n_stages, region_ids)
    options: dict[str, list[ProblemOption]] = {}
    for k, shape in zip(stages, shapes, strict=True):
        seen: set[str] = set()
        stage_opts: list[ProblemOption] = []
        attempts = 0
        while len(stage_opts) < n_options and attempts < 50 * n_options:
            attempts += 1
            opt = _random_option(rng, catalog, k, shape, priced,
                                 storage_prices=storage.usd_per_gb_month)
            if opt is not None and opt.option.id not in seen:
                seen.add(opt.option.id)
                stage_opts.append(opt)
        options[k] = stage_opts
    pairs = [(r, s) for r in region_ids for s in region_ids]
    problem = PlanningProblem(
        stages=stages, options=options, edges=_dag_edges(rng, stages, shapes),
        reach={k: s.reach for k, s in zip(stages, shapes, strict=True)},
        regions=list(region_ids),
        egress_usd_per_gb={(r, s): catalog.egress.between(r, s) for r, s in pairs},
        transfer_ms_per_gb={(r, s): _transfer_ms_per_gb(catalog, r, s) for r, s in pairs},
        sensitivity={k: s.sensitivity for k, s in zip(stages, shapes, strict=True)},
        forbid_shared_across_classes=True,
    )
    if deadline_factor is not None:
        fastest = sum(min(o.latency_ms for o in problem.options[k]) for k in stages)
        problem.deadline_ms = deadline_factor * fastest
    return problem


def _random_option(rng: random.Random, catalog: Catalog, stage: str, shape: _StageShape,
                   priced: list[InstancePrice], *, storage_prices: dict[str, float],
                   ) -> ProblemOption | None:
    price = rng.choice(priced)
    itype = catalog.instance_type(price.instance_type)
    if itype.memory_gib < shape.memory_gib:
        return None
    tier = rng.choice(catalog.tiers)
    if itype.accelerator is not None and not tier.capabilities.accelerators:
        return None
    replicas = rng.choice((1, 2, 4, 8))
    scaling = rng.choice(_SCALING)
    access = rng.choice(_ACCESS)
    shared = rng.random() < 0.4
    spot = price.spot_usd_per_hour is not None and rng.random() < 0.2
    hourly = (price.spot_usd_per_hour if spot and price.spot_usd_per_hour
              else price.on_demand_usd_per_hour) * tier.price_multiplier
    vcpus = itype.vcpus * replicas
    speedup = 4.0 if itype.accelerator is not None and shape.work_vcpu_h > 10 else 1.0
    run_h = shape.work_vcpu_h * ((1 - shape.parallel) + shape.parallel / vcpus) / speedup
    busy_h = min(HOURS_PER_MONTH, run_h * shape.runs_per_month)
    paid_share, scaling_ms = _SCALING_SHAPE[scaling]
    paid_h = HOURS_PER_MONTH * paid_share if scaling is ScalingPolicy.STATIC else (
        busy_h / paid_share)
    compute = hourly * replicas * min(HOURS_PER_MONTH, max(busy_h, paid_h))
    remote_share, copies, access_exposure = _ACCESS_SHAPE[access]
    if price.region == shape.home:
        remote_share = 0.0
    store = storage_prices.get(price.region, 0.025)
    storage = shape.dataset_gb * copies * store
    remote_gb = shape.dataset_gb * remote_share * shape.epochs
    network = remote_gb * shape.runs_per_month * catalog.egress.between(shape.home,
                                                                        price.region)
    read_ms = remote_gb * _transfer_ms_per_gb(catalog, shape.home, price.region)
    latency = run_h * 3_600_000 + read_ms + scaling_ms + tier.capabilities.cold_start_s * 1000
    exposure = 1.0 + access_exposure + (0.5 if shared else 0.0) + (0.5 if spot else 0.0)
    identity_cost = 0.0 if shared else 4.0  # per-stage scoped role: audit + rotation
    option = StageOption(
        stage=stage, region=price.region, zone=price.zones[0], tier=tier.id,
        instance_type=itype.name, replicas_min=1 if scaling is not ScalingPolicy.STATIC
        else replicas, replicas_max=replicas, scaling=scaling, access=access,
        isolation=Isolation.SHARED if shared else Isolation.SCOPED, spot=spot)
    return ProblemOption(option, compute + storage + network + identity_cost, latency,
                         exposure, shared)


def random_problem(seed: int, n_stages: int, n_options: int, *, n_regions: int = 3,
                   edge_prob: float = 0.5, shared_prob: float = 0.4) -> PlanningProblem:
    """A small abstract problem with random numbers (tests and brute-force checks)."""
    rng = random.Random(seed)
    regions = [f"r{i}" for i in range(n_regions)]
    stages = [f"k{i}" for i in range(n_stages)]
    options: dict[str, list[ProblemOption]] = {}
    for k in stages:
        opts = []
        for o in range(n_options):
            region = rng.choice(regions)
            shared = rng.random() < shared_prob
            option = StageOption(
                stage=k, region=region, zone=f"{region}a", tier="vm", instance_type=f"t{o}",
                replicas_min=1, replicas_max=1, scaling=ScalingPolicy.STATIC,
                access=AccessStrategy.DIRECT,
                isolation=Isolation.SHARED if shared else Isolation.SCOPED)
            opts.append(ProblemOption(option, round(rng.uniform(1, 100), 3),
                                      round(rng.uniform(10, 1000), 3),
                                      round(rng.uniform(0, 5), 3), shared))
        options[k] = opts
    edges = [ProblemEdge(stages[i], stages[j], round(rng.uniform(0, 50), 3),
                         round(rng.uniform(0, 5), 3))
             for j in range(n_stages) for i in range(j) if rng.random() < edge_prob]
    egress = {(r, s): 0.0 if r == s else round(rng.uniform(0.01, 0.09), 4)
              for r in regions for s in regions}
    transfer = {(r, s): 5.0 if r == s else round(rng.uniform(20, 120), 3)
                for r in regions for s in regions}
    return PlanningProblem(
        stages=stages, options=options, edges=edges,
        reach={k: float(rng.randint(1, 5)) for k in stages}, regions=regions,
        egress_usd_per_gb=egress, transfer_ms_per_gb=transfer,
        on_path={k: rng.random() < 0.85 for k in stages},
        sensitivity={k: rng.choice(("internal", "confidential")) for k in stages},
        forbid_shared_across_classes=rng.random() < 0.5,
    )
