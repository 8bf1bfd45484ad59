"""The simulator's own assumptions, each named, sourced and overridable.

These are the mechanics of operation the trace-driven simulator plays out. None of them is
read from :mod:`airflow_cloudplan.optimize`; where a number coincides with a planner
constant it is because both take it from the same public default (stated below), and the
evaluation report lists which ones are shared (a simulation cannot check those).
"""

from __future__ import annotations

import math

from pydantic import Field

from airflow_cloudplan.model.catalog import Frozen

HOURS_PER_MONTH = 730.0
"""8,760 h / 12: simulated costs are normalised to USD per month with this."""

SPOT_MONTHLY_INTERRUPTION_SHARE = 0.20
"""AWS Spot Instance Advisor's highest "frequency of interruption" bucket (> 20 % of a
type's spot instances interrupted in the trailing month), which GPU types fall into in
busy regions. As a Poisson hazard per instance: −ln(1 − 0.2) / 730 h."""


class AutoscalerRules(Frozen):
    """Threshold rules as a cloud autoscaler evaluates them.

    Every ``evaluation_period_s`` the rule reads the mean utilisation U of ready capacity
    over the last period (busy server-seconds / ready server-seconds; it cannot exceed 1,
    which is why threshold rules under-react to bursts). When U/target leaves the band
    1 ± ``tolerance`` it asks for ⌈n·U/target⌉ replicas — scaling out (at least one more)
    at most once per ``scale_out_cooldown_s``, scaling in only to the highest count asked
    for during the last ``scale_in_cooldown_s`` (the stabilisation window). Defaults:
    CloudWatch standard-resolution metrics (60 s periods), target tracking at 70 %, and
    Kubernetes HPA's tolerance (0.1) and 5-minute downscale stabilisation.
    """

    evaluation_period_s: float = Field(default=60.0, gt=0)
    target_utilisation: float = Field(default=0.7, gt=0, le=1)
    tolerance: float = Field(default=0.1, ge=0, lt=1)
    scale_out_cooldown_s: float = Field(default=60.0, ge=0)
    scale_in_cooldown_s: float = Field(default=300.0, ge=0)
    idle_to_zero_s: float = Field(
        default=300.0, ge=0,
        description="with replicas_min = 0: no request for this long releases every replica")


class SimConfig(Frozen):
    """Everything the simulator assumes about operation (defaults are documented facts)."""

    rules: AutoscalerRules = AutoscalerRules()
    forecast_window_s: float = Field(
        default=3600.0, gt=0,
        description="granularity of the predictive scaler's forecast (hourly, as AWS "
                    "predictive scaling forecasts)")
    spot_interruptions_per_hour: float = Field(
        default=-math.log(1.0 - SPOT_MONTHLY_INTERRUPTION_SHARE) / HOURS_PER_MONTH, ge=0,
        description="Poisson rate of interruptions per spot instance-hour")
    checkpoint_interval_s: float = Field(
        default=1800.0, gt=0, description="training writes a checkpoint this often")
    checkpoints_kept: int = Field(default=3, ge=1)
    data_parallel_efficiency: float = Field(
        default=0.9, gt=0, le=1,
        description="per doubling of devices: S(G) = G·η^log2 G (Horovod's ~90 %); shared "
                    "with the planner, so the simulation does not check it")
    cache_fraction: float = Field(
        default=0.25, gt=0, le=1,
        description="size of a regional cache as a share of its dataset (the plan's "
                    "provisioned cache, not a hit ratio: hits follow from the cache's "
                    "fill-and-keep mechanics)")
    partition_share: float = Field(
        default=0.8, gt=0, le=1,
        description="share of a dataset partitioned locality keeps in the stage's region")
    copy_amortisation_months: float = Field(
        default=12.0, gt=0,
        description="accounting convention: a replica's one-off initial copy is spread over "
                    "this many months")
    read_block_mb: float = Field(default=64.0, gt=0, description="object read size (sequential)")
    random_block_mb: float = Field(default=1.0, gt=0, description="object read size (random)")
    streams_per_replica: int = Field(default=16, ge=1,
                                     description="parallel object-store streams per replica")
    bucket_s: float = Field(default=60.0, gt=0,
                            description="width of the time-series buckets (SLO over time)")


__all__ = ["HOURS_PER_MONTH", "AutoscalerRules", "SimConfig"]
