"""Discrete-event simulation of an online stage under one deployment option.

Requests arrive at their recorded times and wait in one FIFO queue (a load balancer in
front of the replicas); a request starts on any free server of a ready replica and holds
it for its service time × the option's slowdown (+ a round trip when it looks up data
that is not in the stage's region). Replicas come and go as the
:class:`~airflow_cloudplan.simulate.fleet.Autoscaler` decides every evaluation period;
a new replica first starts and loads the data it serves (crossing regions when the option
reads it from afar, which is billed as egress). With ``replicas_min = 0`` the last replica
is released after an idle period and the next request waits for a cold start (requests
wake a scale-to-zero tier at once; other tiers at the next evaluation). A spot
interruption loses the replica's in-flight requests, which start again from the head of
the queue.

Events are kept in a heap; arrivals are merged from the (sorted) trace. Cost is accrued
by the :class:`~airflow_cloudplan.simulate.billing.CostMeter` as it happens.
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from dataclasses import dataclass
from typing import Any

from airflow_cloudplan.model.catalog import Catalog, StorageKind
from airflow_cloudplan.model.plan import ScalingPolicy
from airflow_cloudplan.model.workload import Archetype
from airflow_cloudplan.simulate.billing import CostMeter, bill_copies
from airflow_cloudplan.simulate.config import SimConfig
from airflow_cloudplan.simulate.facts import StageFacts, read_rate_mb_s, rtt_s
from airflow_cloudplan.simulate.fleet import READY, STOPPED, Autoscaler, Fleet, Replica
from airflow_cloudplan.simulate.forecast import RateForecast
from airflow_cloudplan.simulate.workload import OnlineLoad

_DONE, _READY, _TICK, _SPOT = 0, 1, 2, 3


@dataclass
class OnlineOutcome:
    """What happened to every request, and to the fleet.

    ``span_s`` is the billed window: the trace's horizon, or longer when the last
    requests finished after it.
    """

    response_s: Any
    arrivals_s: Any
    timeline: list[tuple[float, int, int]]
    meter: CostMeter
    span_s: float
    launches: int
    interruptions: int
    cold_waits: int


def _start_load(catalog: Catalog, facts: StageFacts, cfg: SimConfig, meter: CostMeter,
                first: bool) -> float:
    """Seconds a new replica spends loading what it serves; bills the bytes it moves."""
    seconds = 0.0
    for src in facts.sources:
        if src.archetype is Archetype.RANDOM_READ:
            continue  # looked up per request, not loaded
        hit = 0.0 if (first or not src.cached) else cfg.cache_fraction
        remote_gb = src.gb * (1.0 - src.local_share) * (1.0 - hit)
        local_gb = src.gb * src.local_share * (1.0 - hit)
        cache_gb = src.gb * hit
        if remote_gb:
            seconds += remote_gb * 1000.0 / read_rate_mb_s(
                catalog, cfg, src=src.home_region, dst=facts.region, replicas=1)
            meter.transfer(remote_gb, src.home_region, facts.region)
            meter.reads(remote_gb, cfg.read_block_mb)
        if local_gb:
            seconds += local_gb * 1000.0 / read_rate_mb_s(
                catalog, cfg, src=facts.region, dst=facts.region, replicas=1)
            meter.reads(local_gb, cfg.read_block_mb)
        if cache_gb:
            seconds += cache_gb * 1000.0 / read_rate_mb_s(
                catalog, cfg, src=facts.region, dst=facts.region, replicas=1,
                kind=StorageKind.CACHE)
    return seconds


def _lookup_delays(catalog: Catalog, facts: StageFacts, cfg: SimConfig, n: int,
                   rng: Any) -> Any:
    """Per-request extra seconds: a round trip for each lookup that leaves the region."""
    import numpy as np

    extra = np.zeros(n)
    for src in facts.sources:
        if src.archetype is not Archetype.RANDOM_READ or not src.remote:
            continue
        p_remote = (1.0 - src.local_share) * ((1.0 - cfg.cache_fraction) if src.cached else 1.0)
        hit = rng.random(n) < p_remote
        extra += hit * rtt_s(catalog, src.home_region, facts.region)
    return extra


class _OnlineRun:
    """The state of one replay; one method per event kind."""

    def __init__(self, catalog: Catalog, facts: StageFacts, load: OnlineLoad, cfg: SimConfig,
                 *, seed: int, forecast: RateForecast | None) -> None:
        import numpy as np

        self.catalog, self.facts, self.cfg = catalog, facts, cfg
        self.rng = np.random.default_rng(seed)
        self.meter = CostMeter(catalog)
        self.horizon = float(load.horizon_s)
        self.arrivals = np.asarray(load.arrivals_s, dtype=float)
        self.n = len(self.arrivals)
        durations = (np.asarray(load.service_s, dtype=float) * facts.slowdown
                     + _lookup_delays(catalog, facts, cfg, self.n, self.rng))
        self.arr: list[float] = self.arrivals.tolist()
        self.dur: list[float] = durations.tolist()
        self.finish = np.full(self.n, np.nan)
        self.fleet = Fleet(facts, cfg, self.meter, self.rng)
        self.scaler = Autoscaler(facts, cfg, forecast=forecast,
                                 mean_service_s=load.mean_service_s,
                                 lead_s=facts.launch_s + cfg.rules.evaluation_period_s)
        self.events: list[tuple[float, int, int, int, int]] = []
        self.seq = 0
        self.free: list[int] = []
        self.queue: deque[int] = deque()
        self.busy_total = 0
        self.ready_slots = 0
        self.acc_busy = self.acc_ready = 0.0
        self.tick_busy = self.tick_ready = 0.0
        self.t_last = 0.0
        self.last_arrival = 0.0
        self.cold_waits = 0
        self.loaded_once = False

    # -- helpers --------------------------------------------------------------------------
    def push(self, t: float, kind: int, a: int, b: int = 0) -> None:
        self.seq += 1
        heapq.heappush(self.events, (t, self.seq, kind, a, b))

    def advance(self, now: float) -> None:
        dt = now - self.t_last
        self.acc_busy += self.busy_total * dt
        self.acc_ready += self.ready_slots * dt
        self.t_last = now

    def launch(self, now: float, warm: bool) -> None:
        load_s = 0.0
        if not warm:
            load_s = _start_load(self.catalog, self.facts, self.cfg, self.meter,
                                 first=not self.loaded_once)
            self.loaded_once = True
        rep = self.fleet.request(now, warm=warm, load_s=load_s)
        if warm:
            self.loaded_once = True
            self.became_ready(rep, now)
        else:
            self.push(rep.ready_at, _READY, rep.rid)

    def became_ready(self, rep: Replica, now: float) -> None:
        if rep.state == READY or self.fleet.make_ready(rep, now):
            self.ready_slots += rep.slots
            self.free.extend([rep.rid] * rep.slots)
            delay = self.fleet.interruption_delay()
            if math.isfinite(delay):
                self.push(now + delay, _SPOT, rep.rid)

    def dispatch(self, now: float) -> None:
        queue, free, reps, dur = self.queue, self.free, self.fleet.replicas, self.dur
        while queue and free:
            rid = free.pop()
            rep = reps[rid]
            if rep.state != READY:
                continue
            i = queue.popleft()
            rep.busy += 1
            rep.running.add(i)
            self.busy_total += 1
            self.seq += 1
            heapq.heappush(self.events, (now + dur[i], self.seq, _DONE, rid, i))

    def scale_to(self, target: int, now: float) -> None:
        have = self.fleet.active
        if target > have:
            for _ in range(target - have):
                self.launch(now, warm=False)
        elif target < have:
            serving = [r for r in self.fleet.replicas if r.state == READY]
            self.fleet.release(have - target, now)
            # Released replicas stop serving; draining ones keep their busy servers.
            self.ready_slots -= sum(r.slots for r in serving if r.state != READY)

    # -- events ---------------------------------------------------------------------------
    def on_arrival(self, i: int, now: float) -> None:
        self.queue.append(i)
        self.last_arrival = now
        if self.fleet.active == 0:
            self.cold_waits += 1
            if self.facts.scale_to_zero:  # a request wakes a scale-to-zero tier at once
                self.launch(now, warm=False)
        self.dispatch(now)

    def on_done(self, rid: int, i: int, now: float) -> None:
        rep = self.fleet.replicas[rid]
        if i not in rep.running:
            return  # lost to an interruption; already queued again
        rep.running.discard(i)
        self.finish[i] = now
        rep.busy -= 1
        self.busy_total -= 1
        if rep.state == READY:
            self.free.append(rid)
            self.dispatch(now)
        elif rep.busy == 0 and rep.state != STOPPED:
            self.fleet.stop(rep, now)

    def on_spot(self, rid: int, now: float) -> None:
        rep = self.fleet.replicas[rid]
        if rep.state == STOPPED:
            return
        was_ready = rep.state == READY
        lost = sorted(rep.running)
        self.busy_total -= len(lost)
        rep.running.clear()
        rep.busy = 0
        if was_ready:
            self.ready_slots -= rep.slots
        self.fleet.interrupt(rep, now)
        self.queue.extendleft(reversed(lost))
        if was_ready:
            self.launch(now, warm=False)  # the fleet keeps its desired count
        self.dispatch(now)

    def on_tick(self, now: float, i_next: int) -> None:
        d_busy, d_ready = self.acc_busy - self.tick_busy, self.acc_ready - self.tick_ready
        self.tick_busy, self.tick_ready = self.acc_busy, self.acc_ready
        waiting = bool(self.queue)
        util = min(1.0, d_busy / d_ready) if d_ready > 0 else (1.0 if waiting else 0.0)
        target = self.scaler.decide(now, util, self.fleet.active, self.fleet.ready,
                                    waiting=waiting,
                                    idle_s=0.0 if waiting else now - self.last_arrival)
        self.scale_to(target, now)
        self.dispatch(now)
        if i_next < self.n or self.queue or self.busy_total:
            self.push(now + self.cfg.rules.evaluation_period_s, _TICK, 0)

    def finished(self, now: float) -> bool:
        """All work is done: only the autoscaler (until the window ends) may still act.

        Spot interruptions of idle replicas would otherwise go on for ever (every
        interruption requests a replacement, whose interruption comes later).
        """
        return now >= self.horizon or not any(e[2] == _TICK for e in self.events)

    # -- the loop -------------------------------------------------------------------------
    def run(self) -> OnlineOutcome:
        period = self.cfg.rules.evaluation_period_s
        first_rate = float((self.arrivals < period).sum()) / period
        for _ in range(self.scaler.initial(first_rate)):
            self.launch(0.0, warm=True)
        if self.facts.scaling is not ScalingPolicy.STATIC:
            # The autoscaler's evaluation clock has an arbitrary phase against the trace.
            self.push(float(self.rng.uniform(0.0, period)) or period, _TICK, 0)
        arr, n, events = self.arr, self.n, self.events
        i_next = 0
        inf = math.inf
        while True:
            t_arr = arr[i_next] if i_next < n else inf
            t_ev = events[0][0] if events else inf
            if t_arr == inf and t_ev == inf:
                break
            if t_arr <= t_ev:
                self.advance(t_arr)
                self.on_arrival(i_next, t_arr)
                i_next += 1
                continue
            now, _, kind, a, b = heapq.heappop(events)
            self.advance(now)
            if kind == _DONE:
                self.on_done(a, b, now)
            elif kind == _READY:
                rep = self.fleet.replicas[a]
                if rep.state != STOPPED:
                    self.became_ready(rep, now)
                    self.dispatch(now)
            elif kind == _SPOT:
                self.on_spot(a, now)
            else:
                self.on_tick(now, i_next)
            if i_next == n and not self.queue and self.busy_total == 0 and self.finished(now):
                break
        span = max(self.horizon, self.t_last)
        self.fleet.close(span)
        bill_copies(self.facts, self.meter, span, self.cfg.copy_amortisation_months)
        return OnlineOutcome(self.finish - self.arrivals, self.arrivals, self.fleet.timeline,
                             self.meter, span, self.fleet.launches,
                             self.fleet.interruptions, self.cold_waits)


def simulate_online(catalog: Catalog, facts: StageFacts, load: OnlineLoad, cfg: SimConfig,
                    *, seed: int, forecast: RateForecast | None = None) -> OnlineOutcome:
    """Replay ``load`` against the deployment ``facts`` (seeded, deterministic)."""
    outcome = _OnlineRun(catalog, facts, load, cfg, seed=seed, forecast=forecast).run()
    if facts.public_endpoint and load.response_bytes is not None:
        import numpy as np

        outcome.meter.internet(float(np.sum(load.response_bytes)) / 1e9, facts.region)
    return outcome


__all__ = ["OnlineOutcome", "simulate_online"]
