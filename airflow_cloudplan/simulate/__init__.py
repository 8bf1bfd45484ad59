"""Discrete-event, trace-driven simulation of plans in operation (no Airflow, no I/O).

The simulator replays recorded arrivals and service-time samples against a plan read as
data (:class:`~airflow_cloudplan.model.StageOption` per stage) and the catalog's facts,
with its own mechanics: replicas with cold starts and data loading
(:mod:`~airflow_cloudplan.simulate.fleet`), autoscaling evaluated as it runs (static,
threshold rules with evaluation period and cooldown, predictive pre-warm from a
forecast), spot interruptions with restart from the last checkpoint
(:mod:`~airflow_cloudplan.simulate.batch`), transfers at the measured inter-region
throughput and per-second billing at catalog prices
(:mod:`~airflow_cloudplan.simulate.billing`). It imports nothing from
:mod:`airflow_cloudplan.optimize`, so it can disagree with the planner; the evaluation
protocol (:mod:`airflow_cloudplan.simulate.protocol`) puts the two side by side.

:mod:`~airflow_cloudplan.simulate.queue` keeps the plain G/G/c queue that validates the
planner's latency formula against the same abstraction.
"""

from airflow_cloudplan.simulate.config import AutoscalerRules, SimConfig
from airflow_cloudplan.simulate.pipeline import simulate_plan
from airflow_cloudplan.simulate.queue import SimulatedQueue, simulate_ggc, simulate_trace
from airflow_cloudplan.simulate.trace import ArrivalTrace, load_arrival_trace
from airflow_cloudplan.simulate.workload import BatchLoad, BatchRun, OnlineLoad

__all__ = [
    "ArrivalTrace",
    "AutoscalerRules",
    "BatchLoad",
    "BatchRun",
    "OnlineLoad",
    "SimConfig",
    "SimulatedQueue",
    "load_arrival_trace",
    "simulate_ggc",
    "simulate_plan",
    "simulate_trace",
]
