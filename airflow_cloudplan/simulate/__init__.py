"""Discrete-event simulation used to validate the analytic models (no Airflow, no I/O).

:mod:`~airflow_cloudplan.simulate.queue` simulates the same FIFO G/G/c queue that
:mod:`airflow_cloudplan.optimize.latency` approximates, from synthetic arrivals (gamma or
lognormal inter-arrival times matched to a mean and cv²) or from a recorded arrival trace
(:mod:`~airflow_cloudplan.simulate.trace`).
"""

from airflow_cloudplan.simulate.queue import SimulatedQueue, simulate_ggc, simulate_trace
from airflow_cloudplan.simulate.trace import ArrivalTrace, load_arrival_trace

__all__ = [
    "ArrivalTrace",
    "SimulatedQueue",
    "load_arrival_trace",
    "simulate_ggc",
    "simulate_trace",
]
