"""Latency model L: p95 of online stages, completion time of batch stages, edge transfers.

Online and streaming stages (docs/models.md §4) are a G/G/c FIFO queue: c = servers per
replica × replicas at peak load, arrival rate λ_p = λ̄·peak_to_mean, arrival cv² c_a² from
the profile (else the spec), service time S lognormal with mean s and cv² c_s². The
waiting time W is approximated as

    P(W > 0) = π = C(c, a)^κ   (burstiness-corrected Erlang-C, see :func:`wait_probability`)

and W | W > 0 exponential with mean m = g · (c_a² + c_s²)/2 · 1/(cμ − λ) (Kingman's
heavy-traffic wait, corrected by :func:`klb_factor` g away from heavy traffic), C the
Erlang-C formula. The p95 of the response time T = W + S + D (D: a discrete extra delay,
e.g. a round trip to remote data or a cold start) solves P(T > t) = 0.05 with
P(W + S > t) = P(S > t) + E[e^{−(t−S)/m}; S ≤ t] integrated numerically over the lognormal.
The approximation is validated against the discrete-event simulator in
:mod:`airflow_cloudplan.simulate` (tests/simulate), within 10% over a grid of
utilisations, burstiness and replica counts (worst 6.9%).

Batch and training stages (§5): completion time = start-up (scaling policy; none when
predictive scaling pre-warms) + compute (Amdahl on all vCPUs of replicas_max instances, or
on an accelerated type data-parallel over its accelerators with
:func:`~airflow_cloudplan.optimize.demand.data_parallel_speedup`) + reads + writes.
Reads and writes are timed the same way (by archetype: streams × block / (latency +
block/throughput), capped by the measured link) on every location of
:mod:`airflow_cloudplan.dataflow`: reads from each location's region to the stage's,
writes (outputs, checkpoints) from the stage's region to the location's.
"""

from __future__ import annotations

import math
from functools import lru_cache
from statistics import NormalDist

from airflow_cloudplan.model.catalog import Catalog, StorageKind
from airflow_cloudplan.model.context import PlanningInput
from airflow_cloudplan.model.plan import ScalingPolicy, StageOption
from airflow_cloudplan.model.workload import Archetype
from airflow_cloudplan.optimize.demand import (
    StageDemand,
    accelerated,
    data_parallel_speedup,
    data_traffic,
    online_capacity,
    resolve_demand,
    servers_per_replica,
    service_ms,
)

P95 = 0.95
WAIT_PROBABILITY_GAMMA = 1.17
"""Exponent of the burstiness correction of P(W > 0), fitted against the simulator."""
KEEP_WARM_S = 600.0
"""A scale-to-zero tier keeps an idle instance warm this long after its last request."""
FIBRE_KM_PER_MS = 200.0
"""Signal speed in fibre; RTT = 2 × great-circle distance × route factor / speed + base."""
ROUTE_FACTOR = 1.5
INTRA_REGION_RTT_MS = 1.0
MAX_READ_STREAMS = 16
"""Parallel read streams a job opens: one per vCPU, at most 16."""
_STD = NormalDist()
_SQRT_2PI = math.sqrt(2.0 * math.pi)

# Archetype → (block MB per request, parallel streams allowed).
_ARCHETYPE_IO: dict[Archetype, tuple[float, bool]] = {
    Archetype.LARGE_SEQUENTIAL: (64.0, True),
    Archetype.RANDOM_READ: (1.0, True),
    Archetype.STREAM_APPEND: (8.0, False),
}


# ---------------------------------------------------------------- queueing (G/G/c)
def erlang_c(servers: int, offered_load: float) -> float:
    """Erlang-C probability of waiting in M/M/c with ``offered_load`` a = λ/μ < c."""
    if offered_load <= 0:
        return 0.0
    rho = offered_load / servers
    if rho >= 1:
        return 1.0
    b = 1.0
    for k in range(1, servers + 1):  # Erlang-B recursion, numerically stable
        b = offered_load * b / (k + offered_load * b)
    return b / (1.0 - rho * (1.0 - b))


def wait_probability(servers: int, rho: float, arrival_cv2: float) -> float:
    """π = P(W > 0) for G/G/c: Erlang-C corrected for the burstiness of arrivals.

    Bursty arrivals (c_a² > 1) find all servers busy more often than Poisson ones (PASTA
    no longer holds), smooth arrivals less often. The correction raises C(c, a) to the
    power κ = ((1 + c_a²)/2)^(−γ_c), γ_c = 1.17 / c^0.2, fitted against the simulator
    (κ = 1 for Poisson arrivals, where Erlang-C is exact for M/M/c and ρ for M/G/1).
    """
    c = erlang_c(servers, rho * servers)
    if c <= 0.0 or c >= 1.0:
        return c
    gamma = WAIT_PROBABILITY_GAMMA / servers**0.2
    kappa = math.pow((1.0 + arrival_cv2) / 2.0, -gamma) if arrival_cv2 > 0 else 2.0**gamma
    return min(1.0, math.pow(c, kappa))


def klb_factor(rho: float, arrival_cv2: float, service_cv2: float) -> float:
    """Correction g of Kingman's conditional wait b/(cμ − λ) away from heavy traffic.

    Bursty arrivals (c_a² > 1): g = exp(−(1−ρ)(c_a²−1)/(c_a² + 4c_s²)), the
    Krämer–Langenbach-Belz factor (part of a burst is absorbed at light load). Smooth
    arrivals (c_a² < 1): g = exp(0.6 (1−ρ)(1−c_a²)), fitted against the simulator. g → 1
    as ρ → 1, where Kingman's exponential wait is exact.
    """
    if arrival_cv2 > 1.0:
        return math.exp(-(1.0 - rho) * (arrival_cv2 - 1.0) / (arrival_cv2 + 4.0 * service_cv2))
    return math.exp(0.6 * (1.0 - rho) * (1.0 - arrival_cv2))


def _lognormal(mean: float, cv2: float) -> tuple[float, float]:
    sigma2 = math.log1p(cv2)
    return math.log(mean) - sigma2 / 2.0, math.sqrt(sigma2)


def _tail_w_plus_s(t: float, wait_mean: float, mu_ln: float, sigma: float) -> float:
    """P(W + S > t) for W ~ Exp(mean ``wait_mean``), S ~ lognormal(mu_ln, sigma)."""
    if t <= 0:
        return 1.0
    if sigma == 0.0:
        s = math.exp(mu_ln)
        return 1.0 if s >= t else math.exp(-(t - s) / wait_mean)
    z_t = (math.log(t) - mu_ln) / sigma
    tail_s = 1.0 - _STD.cdf(z_t)
    # E[e^{-(t-S)/m}; S <= t] = ∫_{-∞}^{z_t} φ(z) e^{-(t - e^{mu+σz})/m} dz (Simpson).
    lo = min(z_t, -8.0) if z_t < -8.0 else -8.0
    n = 64
    h = (z_t - lo) / n
    acc = 0.0
    for i in range(n + 1):
        z = lo + i * h
        w = 1.0 if i in (0, n) else (4.0 if i % 2 else 2.0)
        s = math.exp(mu_ln + sigma * z)
        acc += w * math.exp(-0.5 * z * z - (t - s) / wait_mean)
    return tail_s + acc * h / 3.0 / _SQRT_2PI


@lru_cache(maxsize=4096)
def ggc_response_p95_ms(
    arrival_rate_per_s: float,
    service_mean_ms: float,
    servers: int,
    *,
    arrival_cv2: float,
    service_cv2: float,
    extra_delays: tuple[tuple[float, float], ...] = (),
) -> float:
    """p95 response time (ms) of a G/G/c FIFO queue; ``math.inf`` when unstable.

    Memoised: many options of a stage share one queue (same load, type and replicas).

    ``extra_delays`` are (delay_ms, probability) pairs added to a request's response with
    that probability (remote data round trips, cold starts); the rest has no extra delay.
    """
    mu = 1000.0 / service_mean_ms
    rho = arrival_rate_per_s / (servers * mu)
    if rho >= 1.0:
        return math.inf
    pi = wait_probability(servers, rho, arrival_cv2) if rho > 0 else 0.0
    spare = servers * mu - arrival_rate_per_s  # per second
    wait_mean_ms = (
        (arrival_cv2 + service_cv2)
        / 2.0
        / spare
        * 1000.0
        * klb_factor(rho, arrival_cv2, service_cv2)
    )
    mu_ln, sigma = _lognormal(service_mean_ms, service_cv2)
    p_extra = sum(p for _, p in extra_delays)
    mixture = ((0.0, 1.0 - p_extra), *extra_delays)

    def tail(t: float) -> float:
        total = 0.0
        for delay, p in mixture:
            if p <= 0:
                continue
            u = t - delay
            if u <= 0:
                total += p
                continue
            s_tail = (
                1.0 - _STD.cdf((math.log(u) - mu_ln) / sigma)
                if sigma
                else float(math.exp(mu_ln) >= u)
            )
            w_tail = _tail_w_plus_s(u, wait_mean_ms, mu_ln, sigma) if pi > 0 else s_tail
            total += p * ((1.0 - pi) * s_tail + pi * w_tail)
        return total

    target = 1.0 - P95
    hi = service_mean_ms
    while tail(hi) > target:
        hi *= 2.0
    lo = 0.0
    for _ in range(50):
        mid = (lo + hi) / 2.0
        if tail(mid) > target:
            lo = mid
        else:
            hi = mid
        if hi - lo <= 1e-6 * hi:
            break
    return hi


# ---------------------------------------------------------------- network
def rtt_ms(catalog: Catalog, src_region: str, dst_region: str) -> float:
    """Round-trip time between two regions from their great-circle distance."""
    if src_region == dst_region:
        return INTRA_REGION_RTT_MS
    a, b = catalog.region(src_region), catalog.region(dst_region)
    lat1, lon1, lat2, lon2 = map(math.radians, (a.latitude, a.longitude, b.latitude, b.longitude))
    hav = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    km = 2 * 6371.0 * math.asin(math.sqrt(min(1.0, hav)))
    return INTRA_REGION_RTT_MS + 2.0 * km * ROUTE_FACTOR / FIBRE_KM_PER_MS


def edge_transfer_ms_per_gb(catalog: Catalog, src_region: str, dst_region: str) -> float:
    """Milliseconds to move 1 GB from ``src_region`` to ``dst_region``: 8 Gb / throughput."""
    return 8.0 / catalog.throughput_gbps(src_region, dst_region) * 1000.0


# ---------------------------------------------------------------- stages
def read_seconds(
    catalog: Catalog,
    gb: float,
    archetype: Archetype,
    *,
    src_region: str,
    dst_region: str,
    streams: int,
    kind: StorageKind = StorageKind.OBJECT,
) -> float:
    """Seconds to move ``gb`` of one archetype between storage and compute.

    A read goes from storage in ``src_region`` to compute in ``dst_region``; a write
    (multipart upload) the other way, with the same per-request latency and per-stream
    throughput of the storage class ``kind``. Aggregate throughput
    = n × B / (ℓ + B/τ) MB/s, capped by the link (125 MB/s per Gbps), with B the
    archetype's block, ℓ = first-byte latency + RTT, τ the storage class's per-stream
    throughput and n the streams (1 for stream_append). ``mixed`` is half
    large_sequential, half random_read.
    """
    if gb <= 0:
        return 0.0
    if archetype is Archetype.MIXED:
        seq = read_seconds(
            catalog,
            gb / 2,
            Archetype.LARGE_SEQUENTIAL,
            src_region=src_region,
            dst_region=dst_region,
            streams=streams,
            kind=kind,
        )
        rnd = read_seconds(
            catalog,
            gb / 2,
            Archetype.RANDOM_READ,
            src_region=src_region,
            dst_region=dst_region,
            streams=streams,
            kind=kind,
        )
        return seq + rnd
    storage = catalog.storage_class(kind)
    block_mb, parallel = _ARCHETYPE_IO[archetype]
    n = streams if parallel else 1
    latency_s = (storage.first_byte_latency_ms + rtt_ms(catalog, src_region, dst_region)) / 1000
    per_stream = block_mb / (latency_s + block_mb / storage.throughput_mb_s)
    link = catalog.throughput_gbps(src_region, dst_region) * 125.0
    return gb * 1000.0 / min(n * per_stream, link)


def batch_breakdown(
    inp: PlanningInput, option: StageOption, demand: StageDemand
) -> dict[str, float]:
    """Completion time parts (seconds): startup, compute, data (reads), write."""
    cat = inp.catalog
    tier = cat.tier(option.tier)
    itype = cat.instance_type(option.instance_type)
    vcpus = itype.vcpus * option.replicas_max
    p = demand.parallel_fraction
    if accelerated(itype, demand):
        # Data-parallel over the accelerators (not the host's vCPUs): one device does the
        # work ``accelerator_speedup`` times faster than one vCPU, G devices S(G) faster.
        assert itype.accelerator is not None  # narrowed by accelerated()
        devices = itype.accelerator.count * option.replicas_max
        compute = demand.vcpu_seconds / demand.accelerator_speedup * (
            (1.0 - p) + p / data_parallel_speedup(devices))
    else:
        compute = demand.vcpu_seconds * ((1.0 - p) + p / vcpus)
    startup = 0.0
    # Predictive scaling pre-warms before the run (paid in cost.py): no start-up wait.
    if option.scaling is ScalingPolicy.RULE_BASED or (
            option.replicas_min == 0 and option.scaling is not ScalingPolicy.PREDICTIVE):
        startup = tier.capabilities.cold_start_s
        if option.scaling is ScalingPolicy.RULE_BASED and option.replicas_max > 1:
            startup += tier.capabilities.scale_step_s
    streams = max(1, min(MAX_READ_STREAMS, math.floor(vcpus)))
    data = 0.0
    write = 0.0
    here = option.region
    for t in data_traffic(inp, option, demand):
        loc = t.location
        data += read_seconds(cat, t.read_gb, t.read_archetype, src_region=loc.region,
                             dst_region=here, streams=streams, kind=loc.storage)
        write += read_seconds(cat, t.write_gb, t.write_archetype, src_region=here,
                              dst_region=loc.region, streams=streams, kind=loc.storage)
    return {"startup_s": startup, "compute_s": compute, "data_s": data, "write_s": write}


def run_seconds(parts: dict[str, float]) -> float:
    """Completion time of a batch run from :func:`batch_breakdown`'s parts."""
    return parts["startup_s"] + parts["compute_s"] + parts["data_s"] + parts["write_s"]


def online_breakdown(
    inp: PlanningInput, option: StageOption, demand: StageDemand
) -> dict[str, float]:
    """p95 parts for an online/streaming option (ms), and the queue's parameters."""
    cat = inp.catalog
    tier = cat.tier(option.tier)
    itype = cat.instance_type(option.instance_type)
    cap = online_capacity(option, tier, itype, demand)
    servers = servers_per_replica(itype, demand) * cap.replicas_at_peak
    s_ms = service_ms(itype, demand)
    delays: list[tuple[float, float]] = []
    remote_share = 0.0
    remote_rtt = 0.0
    read_by_dataset: dict[str, list[tuple[str, float]]] = {}
    for t in data_traffic(inp, option, demand):
        if t.location.dataset is not None and t.read_gb > 0:
            read_by_dataset.setdefault(t.location.dataset, []).append(
                (t.location.region, t.read_gb)
            )
    for reads in read_by_dataset.values():
        total = sum(gb for _, gb in reads)
        for region, gb in reads:
            share = gb / total if region != option.region else 0.0
            if share > remote_share:
                remote_share, remote_rtt = share, rtt_ms(cat, region, option.region)
    if remote_share > 0:
        delays.append((remote_rtt, remote_share))
    cold_share = 0.0
    pre_warmed = option.scaling is ScalingPolicy.PREDICTIVE
    if (tier.capabilities.scale_to_zero and option.replicas_min == 0 and demand.mean_rps > 0
            and not pre_warmed):
        cold_share = math.exp(-demand.mean_rps * KEEP_WARM_S)
        if cold_share > 1e-9:
            delays.append((tier.capabilities.cold_start_s * 1000.0, cold_share))
    lam = demand.mean_rps * demand.peak_to_mean
    p95 = ggc_response_p95_ms(
        lam,
        s_ms,
        servers,
        arrival_cv2=demand.arrival_cv2,
        service_cv2=demand.service_cv2,
        extra_delays=tuple(delays),
    )
    return {
        "p95_ms": p95,
        "servers": float(servers),
        "utilisation": lam * s_ms / 1000.0 / servers,
        "remote_share": remote_share,
        "cold_share": cold_share,
    }


def stage_latency_ms(inp: PlanningInput, stage_name: str, option: StageOption) -> float:
    """The stage's latency under ``option``: p95 (online/streaming) or completion time (batch).

    ``math.inf`` when an online option cannot keep up with its peak load.
    """
    demand = resolve_demand(inp, stage_name)
    if demand.online:
        return online_breakdown(inp, option, demand)["p95_ms"]
    return 1000.0 * run_seconds(batch_breakdown(inp, option, demand))


__all__ = [
    "batch_breakdown",
    "edge_transfer_ms_per_gb",
    "erlang_c",
    "ggc_response_p95_ms",
    "online_breakdown",
    "read_seconds",
    "rtt_ms",
    "run_seconds",
    "stage_latency_ms",
    "wait_probability",
]
