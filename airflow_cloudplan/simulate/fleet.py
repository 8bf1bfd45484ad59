"""Replicas as they live in operation, and the autoscaler that asks for them.

A :class:`Replica` is requested (billing starts), becomes ready after the tier's start-up
(the longer of its cold start and its scale step — a new replica needs a new unit of
capacity — plus loading the data it serves from), serves, and is released: at once when
idle, after its in-flight work when busy (draining). Spot replicas are interrupted by a
Poisson process; the fleet then requests a replacement at once.

:class:`Autoscaler` decides the replica count every evaluation period from what a cloud
autoscaler can observe (see :class:`~airflow_cloudplan.simulate.config.AutoscalerRules`):
``static`` holds replicas_max; ``rule_based`` follows the utilisation thresholds;
``predictive`` pre-warms for the forecast rate one start-up ahead and keeps the
threshold rules as its floor (as cloud predictive scaling is deployed with a dynamic
policy).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from airflow_cloudplan.model.plan import ScalingPolicy
from airflow_cloudplan.simulate.billing import CostMeter
from airflow_cloudplan.simulate.config import SimConfig
from airflow_cloudplan.simulate.facts import StageFacts
from airflow_cloudplan.simulate.forecast import RateForecast

LAUNCHING, READY, DRAINING, STOPPED = 0, 1, 2, 3


@dataclass
class Replica:
    """One replica: its life times and what it is doing."""

    rid: int
    slots: int
    requested_at: float
    ready_at: float = math.inf
    stopped_at: float = math.inf
    state: int = LAUNCHING
    busy: int = 0
    running: set[int] = field(default_factory=set)


class Fleet:
    """The replicas of one stage under one option, billed per second."""

    def __init__(self, facts: StageFacts, cfg: SimConfig, meter: CostMeter, rng: Any) -> None:
        self.facts = facts
        self.cfg = cfg
        self.meter = meter
        self.rng = rng
        self.replicas: list[Replica] = []
        self.timeline: list[tuple[float, int, int]] = [(0.0, 0, 0)]
        self.launches = 0
        self.interruptions = 0
        self._ready = 0
        self._active = 0
        self.spot_rate_per_s = (cfg.spot_interruptions_per_hour / 3600.0
                                if facts.option.spot else 0.0)

    # -- counts -------------------------------------------------------------------------
    @property
    def ready(self) -> int:
        """Replicas serving now."""
        return self._ready

    @property
    def active(self) -> int:
        """Replicas requested and not being released (launching + ready)."""
        return self._active

    def _mark(self, now: float) -> None:
        if self.timeline[-1][0] == now:
            self.timeline[-1] = (now, self._ready, self._active)
        else:
            self.timeline.append((now, self._ready, self._active))

    # -- life cycle ---------------------------------------------------------------------
    def request(self, now: float, *, warm: bool = False, load_s: float = 0.0) -> Replica:
        """Request a replica; ``warm`` ones are ready at once (provisioned before the window).

        A cold one is ready after the tier's start-up plus ``load_s`` of loading data.
        """
        rep = Replica(len(self.replicas), self.facts.slots_per_replica, now)
        self.replicas.append(rep)
        self._active += 1
        if warm:
            rep.ready_at = now
        else:
            rep.ready_at = now + self.facts.launch_s + load_s
            self.launches += 1
        self._mark(now)
        return rep

    def make_ready(self, rep: Replica, now: float) -> bool:
        """The replica finished starting; False when it was released meanwhile."""
        if rep.state != LAUNCHING:
            return False
        rep.state = READY
        self._ready += 1
        self._mark(now)
        return True

    def interruption_delay(self) -> float:
        """Seconds until a spot interruption of a replica that just became ready."""
        if self.spot_rate_per_s <= 0:
            return math.inf
        return float(self.rng.exponential(1.0 / self.spot_rate_per_s))

    def stop(self, rep: Replica, now: float) -> None:
        """Release the replica now (billing stops)."""
        if rep.state == STOPPED:
            return
        if rep.state == READY:
            self._ready -= 1
            self._active -= 1
        elif rep.state == LAUNCHING:
            self._active -= 1
        rep.state = STOPPED
        rep.stopped_at = now
        self.meter.compute(now - rep.requested_at, self.facts.usd_per_replica_s)
        self._mark(now)

    def interrupt(self, rep: Replica, now: float) -> None:
        """A spot interruption: the replica is gone."""
        self.interruptions += 1
        self.stop(rep, now)

    def release(self, count: int, now: float) -> list[Replica]:
        """Give back ``count`` replicas: launching ones first, then idle, then busy (drain).

        Returns the replicas that started draining (they stop when their work ends).
        """
        draining: list[Replica] = []
        order = sorted((r for r in self.replicas if r.state in (LAUNCHING, READY)),
                       key=lambda r: (r.state == READY, r.busy, -r.rid))
        for rep in order[:max(0, count)]:
            if rep.state == LAUNCHING or rep.busy == 0:
                self.stop(rep, now)
            else:
                rep.state = DRAINING
                self._ready -= 1
                self._active -= 1
                draining.append(rep)
        if draining:
            self._mark(now)
        return draining

    def close(self, now: float) -> None:
        """End of the simulation: bill every replica still provisioned up to ``now``."""
        for rep in self.replicas:
            if rep.state != STOPPED:
                self.stop(rep, now)


class Autoscaler:
    """Replica count decisions of one policy (see the module docstring)."""

    def __init__(self, facts: StageFacts, cfg: SimConfig, *, forecast: RateForecast | None,
                 mean_service_s: float, lead_s: float, whole_fleet: bool = False) -> None:
        self.facts = facts
        self.whole_fleet = whole_fleet
        self.rules = cfg.rules
        self.forecast = forecast
        self.mean_service_s = mean_service_s * facts.slowdown
        self.lead_s = lead_s
        self.last_out = -math.inf
        self.recent: deque[tuple[float, int]] = deque()

    @property
    def policy(self) -> ScalingPolicy:
        """The option's scaling policy."""
        return self.facts.scaling

    def clamp(self, n: int) -> int:
        """Within the option's replica bounds."""
        return min(self.facts.replicas_max, max(self.facts.replicas_min, n))

    def for_rate(self, rate_per_s: float) -> int:
        """Replicas that carry ``rate_per_s`` at the target utilisation."""
        if rate_per_s <= 0:
            return 0
        work = rate_per_s * self.mean_service_s / self.facts.slots_per_replica
        return math.ceil(work / self.rules.target_utilisation - 1e-9)

    def initial(self, first_rate_per_s: float) -> int:
        """Replicas at the start of the window (the steady state of its first load)."""
        if self.policy is ScalingPolicy.STATIC:
            return self.facts.replicas_max
        n = self.for_rate(first_rate_per_s)
        if self.policy is ScalingPolicy.PREDICTIVE:
            n = max(n, self.predicted(0.0))
        return self.clamp(n)

    def predicted(self, now: float) -> int:
        """Replicas the forecast needs one start-up ahead (predictive only).

        For batch stages (``whole_fleet``) a run expected in a forecast window pre-warms
        the whole fleet for that window: a run uses all of it.
        """
        if self.forecast is None or self.policy is not ScalingPolicy.PREDICTIVE:
            return 0
        rate = self.forecast.peak_over(now, now + self.lead_s)
        if self.whole_fleet:
            return self.facts.replicas_max if rate > 0 else 0
        return self.for_rate(rate)

    def decide(self, now: float, utilisation: float, active: int, ready: int, *,
               waiting: bool, idle_s: float) -> int:
        """The replica count to run from now on."""
        if self.policy is ScalingPolicy.STATIC:
            return self.facts.replicas_max
        r = self.rules
        ratio = utilisation / r.target_utilisation
        if active == 0:
            rec = 1 if waiting else 0
        elif ready == 0:
            rec = active  # nothing is ready yet: no utilisation to read, wait for start-up
        elif ratio > 1.0 + r.tolerance:
            rec = active  # in scale-out cooldown
            if now - self.last_out >= r.scale_out_cooldown_s:
                rec = max(active + 1, math.ceil(ready * ratio - 1e-9))
                self.last_out = now
        elif ratio < 1.0 - r.tolerance:
            rec = math.ceil(ready * ratio - 1e-9)
        else:
            rec = active
        self.recent.append((now, rec))
        while self.recent and self.recent[0][0] < now - r.scale_in_cooldown_s:
            self.recent.popleft()
        want = rec if rec >= active else min(active, max(n for _, n in self.recent))
        if self.policy is ScalingPolicy.PREDICTIVE:
            want = max(want, self.predicted(now))
        if self.facts.replicas_min == 0 and idle_s >= r.idle_to_zero_s and not waiting:
            floor = self.predicted(now) if self.policy is ScalingPolicy.PREDICTIVE else 0
            return min(self.facts.replicas_max, floor)
        want = max(want, 1) if (waiting or ready > 0 or self.facts.replicas_min > 0) else want
        return self.clamp(want)


__all__ = ["DRAINING", "LAUNCHING", "READY", "STOPPED", "Autoscaler", "Fleet", "Replica"]
