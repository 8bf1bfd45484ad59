"""Stage profiles from job/request trace files (CSV or JSON Lines).

A trace is one row per run. :class:`TraceColumns` maps the file's column names onto what
the profiler needs; the documented defaults fit the public Alibaba GenAI LoRA request
trace (``gmt_create``, ``exec_time_seconds``, ``groupId``, ``predict_status``):

=================  ===========================================================
``time``           arrival time (ISO 8601 or epoch seconds), required
``duration``       run time in seconds, required
``stage``          column(s) whose values identify a stage (joined with ``/``)
``pipeline``       column naming the pipeline, else the constant ``pipeline_name``
``status``         optional; a value in ``failed_values`` marks a failed run
``queue_delay``    optional seconds between submission and start
=================  ===========================================================

Rows must be in time order (the arrival statistics and the predictor rely on it).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel

from airflow_cloudplan.errors import Problem, ProfileError
from airflow_cloudplan.model.workload import ProfileSet
from airflow_cloudplan.profile.predictor import RuntimePredictor
from airflow_cloudplan.profile.sketch import StageState

LORA_LEVELS: tuple[tuple[str, ...], ...] = (
    ("groupId", "checkpoint_model_version_id", "num_inference_steps",
     "num_images_per_prompt", "predict_type", "num_lora"),
    ("groupId", "checkpoint_model_version_id", "num_inference_steps",
     "num_images_per_prompt", "predict_type"),
    ("checkpoint_model_version_id", "num_inference_steps", "num_images_per_prompt",
     "predict_type", "num_lora"),
    ("checkpoint_model_version_id", "num_inference_steps", "num_images_per_prompt",
     "predict_type"),
    ("num_inference_steps", "num_images_per_prompt", "predict_type"),
)
"""Key levels for the LoRA request trace: group+model+request shape → model+shape → shape."""


class TraceColumns(BaseModel):
    """Which trace columns hold what (defaults: the Alibaba GenAI LoRA request trace)."""

    time: str = "gmt_create"
    duration: str = "exec_time_seconds"
    stage: tuple[str, ...] = ("groupId",)
    pipeline: str | None = None
    pipeline_name: str = "trace"
    status: str | None = "predict_status"
    failed_values: tuple[str, ...] = ("FAILED", "failed", "Failed")
    queue_delay: str | None = None


def lora_predictor(min_confidence: float = 0.0) -> RuntimePredictor:
    """The predictor configured for the LoRA request trace's recurring keys."""
    return RuntimePredictor(LORA_LEVELS, min_confidence=min_confidence)


def read_rows(path: Path) -> Iterator[dict[str, str]]:
    """Stream a CSV (header row) or JSONL trace as dicts of strings."""
    if not path.is_file():
        raise ProfileError(
            "trace file not found",
            [Problem(f"{path} does not exist", file=str(path),
                     hint="give the path of a CSV or JSONL trace")],
        )
    with path.open(newline="", encoding="utf-8") as handle:
        if path.suffix in {".jsonl", ".ndjson", ".json"}:
            for lineno, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise ProfileError("trace line is not JSON", [Problem(
                        str(exc), file=str(path), line=lineno,
                        hint="write one JSON object per line")]) from exc
                yield {k: "" if v is None else str(v) for k, v in record.items()}
        else:
            yield from csv.DictReader(handle)


def parse_time(text: str) -> float:
    """ISO 8601 (naive = UTC) or epoch seconds → epoch seconds."""
    try:
        return float(text)
    except ValueError:
        pass
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def profile_trace(path: str | Path, columns: TraceColumns | None = None) -> ProfileSet:
    """Profiles of every stage in a trace file (``source="trace"``)."""
    from airflow_cloudplan.profile.build import build_profile_set

    cols = columns or TraceColumns()
    trace = Path(path)
    states: dict[tuple[str, str], StageState] = {}
    last_time = None
    for lineno, row in enumerate(read_rows(trace), 2):
        try:
            arrival = parse_time(row[cols.time])
            duration = float(row[cols.duration])
            queue = row.get(cols.queue_delay) if cols.queue_delay else None
            queue_s = float(queue) if queue not in (None, "") else None
        except KeyError as exc:
            raise ProfileError("trace lacks a mapped column", [Problem(
                f"column {exc} not in the trace header", file=str(trace), line=lineno,
                hint="map the columns with TraceColumns(time=..., duration=..., stage=...)",
            )]) from exc
        except ValueError as exc:
            raise ProfileError("trace value cannot be read", [Problem(
                str(exc), file=str(trace), line=lineno,
                hint="times are ISO 8601 or epoch seconds; durations are seconds")]) from exc
        pipeline = row.get(cols.pipeline, "") if cols.pipeline else cols.pipeline_name
        stage = "/".join(row.get(c, "") for c in cols.stage)
        key = (pipeline, stage)
        state = states.get(key)
        if state is None:
            state = states[key] = StageState(dag_id=pipeline, task_id=stage)
        failed = bool(cols.status) and row.get(cols.status or "", "") in cols.failed_values
        state.add_run(arrival=arrival, duration_s=duration, failed=failed, queue_delay_s=queue_s)
        last_time = arrival if last_time is None else max(last_time, arrival)
    watermark = datetime.fromtimestamp(last_time, UTC) if last_time is not None else None
    return build_profile_set(states, source="trace", watermark=watermark,
                             note="" if states else f"no runs in {trace}")
