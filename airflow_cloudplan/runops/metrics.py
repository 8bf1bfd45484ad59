"""The metric names the stage operators emit and the SLO rules read (one contract).

OpenTelemetry instrument names (dots) become Prometheus series names (underscores, unit
and ``_total``/``_bucket`` suffixes) on the way through the Collector's Prometheus
exporter. Data-point attributes ``pipeline``, ``stage`` and ``outcome`` (``success`` or
``failure``) become labels. docs/runops.md documents the same table for operator authors.
"""

from __future__ import annotations

STAGE_RUNS_INSTRUMENT = "cloudplan.stage.runs"
"""Counter, one per finished stage run (batch/streaming), attribute ``outcome``."""

STAGE_DURATION_INSTRUMENT = "cloudplan.stage.duration"
"""Histogram (unit ``s``) of stage run durations, attribute ``outcome``."""

REQUEST_DURATION_INSTRUMENT = "cloudplan.request.duration"
"""Histogram (unit ``s``) of online request latencies, attribute ``outcome``."""

STAGE_RUNS_TOTAL = "cloudplan_stage_runs_total"
STAGE_DURATION_BUCKET = "cloudplan_stage_duration_seconds_bucket"
STAGE_DURATION_COUNT = "cloudplan_stage_duration_seconds_count"
REQUEST_DURATION_BUCKET = "cloudplan_request_duration_seconds_bucket"
REQUEST_DURATION_COUNT = "cloudplan_request_duration_seconds_count"

OUTCOME_SUCCESS = "success"
OUTCOME_FAILURE = "failure"
