"""Discrete-event simulation of a batch or training stage under one deployment option.

Runs are submitted at their recorded times and served first come, first served by the
stage's fleet (replicas come and go as the
:class:`~airflow_cloudplan.simulate.fleet.Autoscaler` decides; a run submitted to an
empty fleet waits for it to start). Two kinds of work:

* **items** (batch inference): the run first streams its input datasets in (item k can
  start once (k+1)/N of the input has arrived), and each item holds one server for its
  recorded service time × the option's slowdown; items of all runs share one FIFO queue,
  and a run completes when its last item does.
* **data-parallel job** (training): one job at a time uses every server of every ready
  replica. Each epoch reads the job's datasets and computes; a data loader overlaps the
  two, so an epoch takes max(compute, read) with compute = work / S(G) on G devices
  (S(G) = G·η^log2 G) — re-evaluated whenever capacity changes (elastic). Every
  ``checkpoint_interval_s`` of run time the job pauses to write a checkpoint of the
  stage's memory size; a spot interruption rolls the job back to its last checkpoint and
  it resumes after a process restart (the tier's cold start) on what is left, while a
  replacement replica starts.

Reads follow the option's placement of each dataset (:class:`~airflow_cloudplan.simulate.
facts.DataSource`): bytes that cross regions are billed as egress; a regional cache is
*fill-and-keep* (lazy loading, no eviction, as a file-system cache of fixed size): the
first pass fills it to its size, later passes hit exactly what it holds.
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from airflow_cloudplan.model.catalog import Catalog, StorageKind
from airflow_cloudplan.model.plan import ScalingPolicy
from airflow_cloudplan.simulate.billing import CostMeter, bill_copies
from airflow_cloudplan.simulate.config import SimConfig
from airflow_cloudplan.simulate.facts import StageFacts, read_rate_mb_s
from airflow_cloudplan.simulate.fleet import READY, STOPPED, Autoscaler, Fleet, Replica
from airflow_cloudplan.simulate.forecast import RateForecast
from airflow_cloudplan.simulate.workload import BatchLoad, BatchRun

_SUBMIT, _ITEM_READY, _ITEM_DONE, _READY, _TICK, _SPOT, _JOB = range(7)
EPOCH_EPSILON_S = 1e-6
"""An epoch with less than this left is complete."""


@dataclass
class BatchOutcome:
    """What happened to every run, and to the fleet (times in seconds)."""

    submit_s: Any
    finish_s: Any
    timeline: list[tuple[float, int, int]]
    meter: CostMeter
    span_s: float
    launches: int
    interruptions: int
    restarts: int = 0
    checkpoints: int = 0

    @property
    def completion_s(self) -> Any:
        """Submission to completion of every run."""
        return self.finish_s - self.submit_s


@dataclass
class _Job:
    """The data-parallel job that holds the fleet."""

    run: int
    epochs: int
    work_per_epoch: float
    epoch: int = 0
    phi: float = 0.0
    rate: float = 0.0
    since: float = 0.0
    version: int = 0
    paused_until: float = 0.0
    ckpt_epoch: int = 0
    ckpt_phi: float = 0.0
    ckpt_durable_at: float = 0.0
    prev_ckpt: tuple[int, float] = (0, 0.0)
    next_ckpt: float = math.inf
    epoch_io_s: float = 0.0


@dataclass
class _Cache:
    """A fill-and-keep regional cache of one dataset."""

    capacity_gb: float
    filled_gb: float = 0.0


@dataclass
class _Reads:
    """Where one pass over a dataset's bytes comes from."""

    remote_gb: float = 0.0
    local_gb: float = 0.0
    cache_gb: float = 0.0
    home: str = ""
    archetype: Any = None


@dataclass
class _State:
    items_left: dict[int, int] = field(default_factory=dict)
    item_run: list[int] = field(default_factory=list)
    item_work: list[float] = field(default_factory=list)


class _BatchRun:
    """One replay of a batch load against one deployment."""

    def __init__(self, catalog: Catalog, facts: StageFacts, load: BatchLoad, cfg: SimConfig,
                 *, seed: int, forecast: RateForecast | None) -> None:
        import numpy as np

        self.catalog, self.facts, self.load, self.cfg = catalog, facts, load, cfg
        self.rng = np.random.default_rng(seed)
        self.meter = CostMeter(catalog)
        self.fleet = Fleet(facts, cfg, self.meter, self.rng)
        mean_work = sum(r.total_work_s for r in load.runs) / len(load.runs)
        self.scaler = Autoscaler(facts, cfg, forecast=forecast, mean_service_s=mean_work,
                                 lead_s=facts.launch_s + cfg.rules.evaluation_period_s,
                                 whole_fleet=True)
        self.runs = load.runs
        self.finish = np.full(len(load.runs), np.nan)
        self.events: list[tuple[float, int, int, int, int]] = []
        self.seq = 0
        self.free: list[int] = []
        self.items: deque[int] = deque()
        self.state = _State()
        self.jobs: deque[int] = deque()
        self.job: _Job | None = None
        self.pending_reads: deque[int] = deque()
        self.busy_total = 0
        self.ready_slots = 0
        self.acc_busy = self.acc_ready = 0.0
        self.tick_busy = self.tick_ready = 0.0
        self.t_last = 0.0
        self.last_work = 0.0
        self.restarts = 0
        self.finished = 0
        self.seq_submit = 0
        self.checkpoints = 0
        self.ckpt_count = 0
        self.ckpt_since = 0.0
        self.caches = {s.dataset: _Cache(s.copy_gb) for s in facts.sources if s.cached}
        self.ticking = False

    # -- plumbing -------------------------------------------------------------------------
    def push(self, t: float, kind: int, a: int = 0, b: int = 0) -> None:
        self.seq += 1
        heapq.heappush(self.events, (t, self.seq, kind, a, b))

    def advance(self, now: float) -> None:
        dt = now - self.t_last
        self.acc_busy += self.busy_total * dt
        self.acc_ready += self.ready_slots * dt
        self.t_last = now

    def waiting(self) -> bool:
        return bool(self.items or self.jobs or self.job or self.pending_reads)

    def launch(self, now: float, warm: bool) -> None:
        rep = self.fleet.request(now, warm=warm)
        if warm:
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
            self.capacity_changed(now)

    def scale_to(self, target: int, now: float) -> None:
        have = self.fleet.active
        if target > have:
            for _ in range(target - have):
                self.launch(now, warm=False)
        elif target < have:
            serving = [r for r in self.fleet.replicas if r.state == READY]
            self.fleet.release(have - target, now)
            self.ready_slots -= sum(r.slots for r in serving if r.state != READY)
            self.capacity_changed(now)

    # -- data -----------------------------------------------------------------------------
    def one_pass(self) -> list[_Reads]:
        """Bytes of one pass over every read dataset, by where they come from."""
        out = []
        for src in self.facts.sources:
            hit = 0.0
            cache = self.caches.get(src.dataset)
            if cache is not None:
                hit = min(cache.filled_gb, src.gb)
                cache.filled_gb = min(cache.capacity_gb, cache.filled_gb + (src.gb - hit))
            miss = src.gb - hit
            out.append(_Reads(miss * (1.0 - src.local_share), miss * src.local_share, hit,
                              src.home_region, src.archetype))
        return out

    def read_seconds(self, reads: list[_Reads], replicas: int) -> float:
        """Seconds to read ``reads`` with ``replicas`` replicas (and bill the bytes)."""
        cat, cfg, region, meter = self.catalog, self.cfg, self.facts.region, self.meter
        seconds = 0.0
        for r in reads:
            kw = {"replicas": replicas, "archetype": r.archetype}
            if r.remote_gb:
                seconds += r.remote_gb * 1000.0 / read_rate_mb_s(cat, cfg, src=r.home,
                                                                 dst=region, **kw)
                meter.transfer(r.remote_gb, r.home, region)
            if r.local_gb:
                seconds += r.local_gb * 1000.0 / read_rate_mb_s(cat, cfg, src=region,
                                                                dst=region, **kw)
            if r.cache_gb:
                seconds += r.cache_gb * 1000.0 / read_rate_mb_s(
                    cat, cfg, src=region, dst=region, kind=StorageKind.CACHE, **kw)
            meter.reads(r.remote_gb + r.local_gb, cfg.read_block_mb)
        return seconds

    # -- items ----------------------------------------------------------------------------
    def start_items(self, k: int, now: float) -> None:
        """Stream run ``k``'s input in; release its items as their input arrives."""
        run = self.runs[k]
        read_s = self.read_seconds(self.one_pass(), max(1, self.fleet.ready))
        work = run.work_s.tolist()
        self.state.items_left[k] = len(work)
        n = len(work)
        for j, w in enumerate(work):
            idx = len(self.state.item_work)
            self.state.item_work.append(w * self.facts.slowdown)
            self.state.item_run.append(k)
            self.push(now + read_s * (j + 1) / n, _ITEM_READY, idx)

    def dispatch_items(self, now: float) -> None:
        items, free, reps = self.items, self.free, self.fleet.replicas
        while items and free:
            rid = free.pop()
            rep = reps[rid]
            if rep.state != READY:
                continue
            i = items.popleft()
            rep.busy += 1
            rep.running.add(i)
            self.busy_total += 1
            self.push(now + self.state.item_work[i], _ITEM_DONE, rid, i)

    def on_item_done(self, rid: int, i: int, now: float) -> None:
        rep = self.fleet.replicas[rid]
        if i not in rep.running:
            return
        rep.running.discard(i)
        rep.busy -= 1
        self.busy_total -= 1
        k = self.state.item_run[i]
        self.state.items_left[k] -= 1
        if self.state.items_left[k] == 0:
            self.finish[k] = now
            self.finished += 1
            self.last_work = now
        if rep.state == READY:
            self.free.append(rid)
            self.dispatch_items(now)
        elif rep.busy == 0 and rep.state != STOPPED:
            self.fleet.stop(rep, now)

    # -- data-parallel jobs ---------------------------------------------------------------
    def devices(self) -> int:
        return self.fleet.ready * self.facts.devices_per_replica

    def speedup(self, devices: int) -> float:
        if devices <= 1:
            return float(devices)
        return float(devices * self.cfg.data_parallel_efficiency ** math.log2(devices))

    def job_rate(self, job: _Job) -> float:
        """Epochs per second at the current capacity (0 without a ready replica)."""
        g = self.devices()
        if g == 0:
            return 0.0
        compute = job.work_per_epoch * self.facts.slowdown / self.speedup(g)
        return 1.0 / max(compute, job.epoch_io_s, 1e-9)

    def settle(self, job: _Job, now: float) -> None:
        """Bank the progress made since the rate was last set."""
        start = max(job.since, job.paused_until)
        if now > start:
            job.phi = min(1.0, job.phi + job.rate * (now - start))
        job.since = max(now, job.paused_until)

    def schedule_job(self, now: float) -> None:
        """Set the job's rate and its next event (epoch end or checkpoint)."""
        job = self.job
        if job is None:
            return
        job.rate = self.job_rate(job)
        job.version += 1
        if job.rate <= 0:
            return
        begin = max(now, job.paused_until)
        if math.isinf(job.next_ckpt):  # (re)started: the checkpoint timer runs from here
            job.next_ckpt = begin + self.cfg.checkpoint_interval_s
        epoch_end = begin + (1.0 - job.phi) / job.rate
        self.push(min(epoch_end, max(job.next_ckpt, begin)), _JOB, job.version)

    def start_job(self, now: float) -> None:
        k = self.jobs.popleft()
        run = self.runs[k]
        job = _Job(run=k, epochs=max(1, run.epochs),
                   work_per_epoch=run.total_work_s / max(1, run.epochs), since=now)
        job.epoch_io_s = self.read_seconds(self.one_pass(), max(1, self.fleet.ready))
        self.job = job
        self.busy_total = self.ready_slots
        self.schedule_job(now)

    def on_job_event(self, version: int, now: float) -> None:
        job = self.job
        if job is None or version != job.version:
            return
        self.settle(job, now)
        left_s = (1.0 - job.phi) / job.rate if job.rate > 0 else math.inf
        if left_s <= EPOCH_EPSILON_S:  # (floating point: never schedule an event at ``now``)
            job.epoch += 1
            job.phi = 0.0
            if job.epoch >= job.epochs:
                self.finish[job.run] = now
                self.finished += 1
                self.last_work = now
                self.job = None
                self.busy_total = 0
                self.next_job(now)
                return
            job.epoch_io_s = self.read_seconds(self.one_pass(), max(1, self.fleet.ready))
        if now >= job.next_ckpt - 1e-9:
            write_s = self.facts.checkpoint_gb * 1000.0 / read_rate_mb_s(
                self.catalog, self.cfg, src=self.facts.region, dst=self.facts.region,
                replicas=1)
            job.paused_until = now + write_s
            job.since = job.paused_until
            job.prev_ckpt = (job.ckpt_epoch, job.ckpt_phi)
            job.ckpt_epoch, job.ckpt_phi = job.epoch, job.phi
            job.ckpt_durable_at = job.paused_until  # lost if interrupted while writing
            job.next_ckpt = job.paused_until + self.cfg.checkpoint_interval_s
            self.checkpoint_written(now)
        self.schedule_job(now)

    def checkpoint_written(self, now: float) -> None:
        """Keep the last ``checkpoints_kept`` checkpoints (storage accrues while kept)."""
        self.store_checkpoints(now)
        self.checkpoints += 1
        self.ckpt_count = min(self.cfg.checkpoints_kept, self.ckpt_count + 1)

    def store_checkpoints(self, now: float) -> None:
        gb = self.ckpt_count * self.facts.checkpoint_gb
        self.meter.store(gb, StorageKind.OBJECT, self.facts.region, now - self.ckpt_since)
        self.ckpt_since = now

    def next_job(self, now: float) -> None:
        if self.job is None and self.jobs and self.fleet.ready > 0:
            self.start_job(now)

    def capacity_changed(self, now: float) -> None:
        if self.job is not None:
            self.settle(self.job, now)
            self.busy_total = self.ready_slots
            self.schedule_job(now)
        else:
            self.next_job(now)
            self.start_pending_reads(now)
            self.dispatch_items(now)

    def start_pending_reads(self, now: float) -> None:
        while self.pending_reads and self.fleet.ready > 0:
            self.start_items(self.pending_reads.popleft(), now)

    # -- events ---------------------------------------------------------------------------
    def on_submit(self, k: int, now: float) -> None:
        self.last_work = now
        if self.runs[k].divisible:
            self.jobs.append(k)
            self.next_job(now)
        else:
            self.pending_reads.append(k)
            self.start_pending_reads(now)
        if self.fleet.active == 0 and self.facts.scale_to_zero:
            self.launch(now, warm=False)
        self.ensure_ticking(now)

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
        self.items.extendleft(reversed(lost))
        job = self.job
        if job is not None and was_ready:
            # Synchronous data parallelism: every worker restarts from the last checkpoint.
            self.restarts += 1
            if now < job.ckpt_durable_at:  # the checkpoint being written is lost
                job.ckpt_epoch, job.ckpt_phi = job.prev_ckpt
                job.ckpt_durable_at = 0.0
            job.epoch, job.phi = job.ckpt_epoch, job.ckpt_phi
            job.paused_until = now + self.facts.cold_start_s
            job.since = job.paused_until
            job.next_ckpt = math.inf
            job.epoch_io_s = self.read_seconds(self.one_pass(), max(1, self.fleet.ready))
        if was_ready:
            self.launch(now, warm=False)
        self.capacity_changed(now)

    def on_tick(self, now: float) -> None:
        d_busy, d_ready = self.acc_busy - self.tick_busy, self.acc_ready - self.tick_ready
        self.tick_busy, self.tick_ready = self.acc_busy, self.acc_ready
        waiting = self.waiting()
        util = min(1.0, d_busy / d_ready) if d_ready > 0 else (1.0 if waiting else 0.0)
        target = self.scaler.decide(now, util, self.fleet.active, self.fleet.ready,
                                    waiting=waiting,
                                    idle_s=0.0 if waiting else now - self.last_work)
        self.scale_to(target, now)
        more = self.seq_submit < len(self.runs) or waiting
        if more or self.fleet.active > self.facts.replicas_min or self.scaler.predicted(now):
            self.push(now + self.cfg.rules.evaluation_period_s, _TICK)
        else:
            self.ticking = False

    def ensure_ticking(self, now: float) -> None:
        if not self.ticking and self.facts.scaling is not ScalingPolicy.STATIC:
            self.ticking = True
            period = self.cfg.rules.evaluation_period_s
            self.push((math.floor(now / period) + 1) * period, _TICK)

    # -- the loop -------------------------------------------------------------------------
    def run(self) -> BatchOutcome:
        period = self.cfg.rules.evaluation_period_s
        for _ in range(self.scaler.initial(0.0)):
            self.launch(0.0, warm=True)
        order = sorted(range(len(self.runs)), key=lambda k: self.runs[k].submit_s)
        for k in order:
            self.push(self.runs[k].submit_s, _SUBMIT, k)
        if self.facts.scaling is not ScalingPolicy.STATIC:
            self.ticking = True  # evaluation clock with an arbitrary phase
            self.push(float(self.rng.uniform(0.0, period)) or period, _TICK)
        budget = 200 * len(self.runs) + 20 * int(self.load.horizon_s / period) + 100_000
        budget += sum(len(r.work_s) for r in self.runs) * 4
        while self.events:
            budget -= 1
            if budget < 0:
                raise RuntimeError(f"batch simulation of {self.facts.stage} made no progress "
                                   f"at t = {self.t_last:.3f} s (a simulator bug)")
            now, _, kind, a, b = heapq.heappop(self.events)
            self.advance(now)
            if kind == _SUBMIT:
                self.seq_submit += 1
                self.on_submit(a, now)
            elif kind == _ITEM_READY:
                self.items.append(a)
                self.dispatch_items(now)
            elif kind == _ITEM_DONE:
                self.on_item_done(a, b, now)
            elif kind == _JOB:
                self.on_job_event(a, now)
            elif kind == _READY:
                rep = self.fleet.replicas[a]
                if rep.state != STOPPED:
                    self.became_ready(rep, now)
            elif kind == _SPOT:
                self.on_spot(a, now)
            else:
                self.on_tick(now)
            if self.done():
                break
        span = max(self.load.horizon_s, self.t_last)
        self.fleet.close(span)
        self.store_checkpoints(span)
        bill_copies(self.facts, self.meter, span, self.cfg.copy_amortisation_months)
        submit = [r.submit_s for r in self.runs]
        import numpy as np

        return BatchOutcome(np.asarray(submit), self.finish, self.fleet.timeline, self.meter,
                            span, self.fleet.launches, self.fleet.interruptions,
                            self.restarts, self.checkpoints)

    def done(self) -> bool:
        """Every run finished and the window is over: only idle bookkeeping is left."""
        return self.finished == len(self.runs) and self.t_last >= self.load.horizon_s


def simulate_batch(catalog: Catalog, facts: StageFacts, load: BatchLoad, cfg: SimConfig, *,
                   seed: int, forecast: RateForecast | None = None) -> BatchOutcome:
    """Replay the runs of ``load`` against the deployment ``facts`` (seeded)."""
    return _BatchRun(catalog, facts, load, cfg, seed=seed, forecast=forecast).run()


__all__ = ["BatchOutcome", "BatchRun", "simulate_batch"]
