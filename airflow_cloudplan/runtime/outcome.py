"""How a stage run ended, in Airflow's terms: the one table spans, metrics and records use.

A stage run can end in more ways than "it returned" or "it raised": Airflow tasks skip,
branch, defer to the triggerer, wait for a reschedule, fail with retries left, or are
killed from outside. Each way gets exactly one :class:`Outcome`, and the outcome decides
what the stage's telemetry says:

* the **span** status (``OK``, ``ERROR`` or left ``UNSET``) and ``cloudplan.outcome``;
* the **metrics**: a *finished* attempt counts once in ``cloudplan.stage.runs{outcome}``
  (and its wall time in ``cloudplan.stage.duration`` when the stage did its work); a
  *suspension* (deferral, reschedule) counts in ``cloudplan.stage.suspensions{reason}``
  and never in the runs, so burn-rate alerts on ``outcome="failure"`` see only real
  failures;
* the **stage record** (XCom ``cloudplan_stage_metrics``): pushed once per finished
  attempt, with ``outcome`` and ``errors``.

:data:`OUTCOME_TABLE` is the single source of that mapping; ``docs/operators.md`` prints
it (a test checks the two agree). The Airflow layer decides which outcome an exception
means (:mod:`airflow_cloudplan.airflow.operators.execution`); this module imports no
Airflow.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Outcome(StrEnum):
    """How one stage attempt (or one worker segment of it) ended."""

    SUCCESS = "success"
    SKIPPED = "skipped"
    FAILURE = "failure"
    RETRY = "retry"
    KILLED = "killed"
    DEFERRED = "deferred"
    RESCHEDULED = "rescheduled"

    @property
    def finished(self) -> bool:
        """True when the attempt is over (not suspended in the triggerer or for a poke)."""
        return self not in (Outcome.DEFERRED, Outcome.RESCHEDULED)

    @property
    def is_error(self) -> bool:
        """True when the attempt failed (span ERROR, ``errors=1`` in the record)."""
        return self in (Outcome.FAILURE, Outcome.RETRY, Outcome.KILLED)

    @property
    def did_work(self) -> bool:
        """True when the attempt's wall time is a sample of the stage's duration."""
        return self in (Outcome.SUCCESS, Outcome.FAILURE, Outcome.RETRY, Outcome.KILLED)


@dataclass(frozen=True)
class Classified:
    """An outcome with what the span should say about it."""

    outcome: Outcome
    reason: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class OutcomeRow:
    """One row of the outcome table (what happens → what the telemetry says)."""

    happens: str
    ti_state: str
    outcome: Outcome
    span: str
    metrics: str
    record: str


OUTCOME_TABLE: tuple[OutcomeRow, ...] = (
    OutcomeRow("the work returns", "success", Outcome.SUCCESS, "OK",
               "runs +1, duration", "pushed, errors=0"),
    OutcomeRow("a branch operator follows some branches (`DownstreamTasksSkipped`)",
               "success (the others skipped)", Outcome.SUCCESS,
               "OK, `cloudplan.branch.skipped` lists the skipped tasks",
               "runs +1, duration", "pushed, errors=0"),
    OutcomeRow("`TriggerDagRunOperator` triggers a run (`DagRunTriggerException`)",
               "success", Outcome.SUCCESS, "OK", "runs +1, duration", "pushed, errors=0"),
    OutcomeRow("the work raises `AirflowSkipException`", "skipped", Outcome.SKIPPED,
               "UNSET, event `skipped` with the reason", "runs +1 (no duration sample)",
               "pushed, errors=0"),
    OutcomeRow("the work defers (`TaskDeferred`)", "deferred", Outcome.DEFERRED,
               "UNSET; the resumed segment's span links to it",
               "suspensions{reason=deferred} +1; the run counts once, when it finishes, "
               "with the whole run's wall time",
               "not pushed; progress kept in XCom `cloudplan_stage_progress`, the final "
               "record covers the whole run (`suspended_s` = time in the triggerer)"),
    OutcomeRow("a sensor in reschedule mode pokes and waits (`AirflowRescheduleException`)",
               "up_for_reschedule", Outcome.RESCHEDULED, "UNSET, one span per poke",
               "suspensions{reason=rescheduled} +1", "not pushed"),
    OutcomeRow("the work raises and Airflow will retry", "up_for_retry", Outcome.RETRY,
               "ERROR, exception recorded", "runs +1, duration", "pushed, errors=1"),
    OutcomeRow("the work raises with no retry left (or `AirflowFailException`, "
               "`AirflowSensorTimeout`, a trigger timeout)", "failed", Outcome.FAILURE,
               "ERROR, exception recorded", "runs +1, duration", "pushed, errors=1"),
    OutcomeRow("the task is killed from outside (SIGTERM → `on_kill`, "
               "`AirflowTaskTerminated`)", "failed / as set from outside", Outcome.KILLED,
               "ERROR, `killed externally` (closed at once, in the signal handler)",
               "runs +1, duration", "pushed when the task's code returns, errors=1"),
)
"""Every way a stage run ends; ``docs/operators.md`` shows :func:`outcome_table_markdown`."""


def outcome_table_markdown() -> str:
    """The outcome table as the Markdown block in ``docs/operators.md``."""
    lines = [
        "| what happens | task instance | `outcome` | span | metrics | stage record |",
        "|---|---|---|---|---|---|",
    ]
    lines.extend(
        f"| {r.happens} | {r.ti_state} | `{r.outcome.value}` | {r.span} | {r.metrics} | "
        f"{r.record} |"
        for r in OUTCOME_TABLE
    )
    return "\n".join(lines)
