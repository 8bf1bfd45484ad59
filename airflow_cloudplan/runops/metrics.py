"""The metric contract between the stage operators and the SLO rules (one table).

The stage operators record OpenTelemetry instruments (``runtime/telemetry.py``); the
Collector's Prometheus exporter turns them into series by the OTLP → Prometheus naming
rules (dots become underscores, the unit becomes a suffix — ``s`` → ``_seconds``, a unit
in braces such as ``{run}`` adds nothing —, counters get ``_total``, histograms
``_bucket``/``_count``/``_sum``). Data-point attributes become labels.

Every SLI the composer writes reads only series listed here, and the composer checks that
the stage's telemetry configuration exports the instrument a series comes from (a meter
provider, with the SLO threshold as a histogram boundary). tests/runops/test_metrics.py
records through ``runtime/telemetry.py`` and checks the result against this table, so
the contract cannot drift from what the operators really emit. docs/runops.md shows the
same table for operator authors.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Instrument:
    """One OpenTelemetry instrument of the contract and the series it becomes."""

    name: str
    kind: str
    unit: str
    attributes: tuple[str, ...]
    description: str

    @property
    def base(self) -> str:
        """The Prometheus metric name without the type suffix."""
        name = self.name.replace(".", "_")
        suffix = _UNIT_SUFFIX.get(self.unit, "")
        return f"{name}_{suffix}" if suffix else name

    @property
    def series(self) -> tuple[str, ...]:
        """The Prometheus series names this instrument becomes."""
        if self.kind == "counter":
            return (f"{self.base}_total",)
        return (f"{self.base}_bucket", f"{self.base}_count", f"{self.base}_sum")


_UNIT_SUFFIX = {"s": "seconds", "By": "bytes"}

STAGE_RUNS = Instrument(
    "cloudplan.stage.runs", "counter", "{run}", ("pipeline", "stage", "outcome"),
    "one per finished stage run (batch/streaming), outcome success|failure")
STAGE_DURATION = Instrument(
    "cloudplan.stage.duration", "histogram", "s", ("pipeline", "stage"),
    "wall-clock duration of a stage run")
REQUEST_DURATION = Instrument(
    "cloudplan.request.duration", "histogram", "s", ("pipeline", "stage"),
    "latency of one served request (online stages)")
REQUESTS = Instrument(
    "cloudplan.requests", "counter", "{request}", ("pipeline", "stage", "code"),
    "one per served request, code = HTTP-style status (an exception counts as 500)")

CONTRACT: tuple[Instrument, ...] = (STAGE_RUNS, STAGE_DURATION, REQUEST_DURATION, REQUESTS)
"""Every instrument an SLI may read."""

STAGE_RUNS_TOTAL = STAGE_RUNS.series[0]
STAGE_DURATION_BUCKET, STAGE_DURATION_COUNT = STAGE_DURATION.series[:2]
REQUEST_DURATION_BUCKET, REQUEST_DURATION_COUNT = REQUEST_DURATION.series[:2]
REQUESTS_TOTAL = REQUESTS.series[0]

OUTCOME_SUCCESS = "success"
OUTCOME_FAILURE = "failure"
SERVER_ERROR_CODES = "5..|429"
"""Request codes that spend the availability budget: server errors and throttling
(Sloth's convention); other 4xx are the caller's errors."""


def instrument_of(series: str) -> Instrument | None:
    """The contract instrument a Prometheus series name comes from, if any."""
    for inst in CONTRACT:
        if series in inst.series:
            return inst
    return None
