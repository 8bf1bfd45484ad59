"""Knobs of the RunOps composer, with the defaults the docs describe.

Everything that is a judgement call rather than a fact of the plan lives here, so a
platform team can change it in one place: burn-rate windows and factors, the executor
rule, priority weights, audit retention. The composer's output is a function of
(plan, input, settings) only.
"""

from __future__ import annotations

from pydantic import Field, model_validator

from airflow_cloudplan.model.catalog import Frozen, TierKind
from airflow_cloudplan.model.workload import Criticality

SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> int:
    """Seconds in a Prometheus-style duration such as ``5m``, ``1h``, ``3d`` or ``1h30m``."""
    total, number = 0, ""
    for ch in text:
        if ch.isdigit():
            number += ch
        elif ch in SECONDS and number:
            total += int(number) * SECONDS[ch]
            number = ""
        else:
            raise ValueError(f"invalid duration {text!r}: use digits followed by s, m, h or d")
    if number or total <= 0:
        raise ValueError(f"invalid duration {text!r}: use e.g. 5m, 1h, 3d")
    return total


def format_duration(seconds: int) -> str:
    """The shortest Prometheus duration for a whole number of seconds (``3900`` → ``1h5m``)."""
    out = ""
    for unit in ("d", "h", "m", "s"):
        size = SECONDS[unit]
        if seconds >= size:
            out += f"{seconds // size}{unit}"
            seconds %= size
    return out or "0s"


class BurnWindow(Frozen):
    """One multi-window burn-rate condition: alert when both windows burn above the factor.

    ``factor`` is the burn rate (multiples of the error budget's even spend) *for a 30-day
    SLO period*, as the Google SRE workbook tabulates it. Windows are fixed; for another
    period P the factor scales by P/30, so each condition still fires when the same share
    of the period's budget (``factor × long / 30d``) is spent within its long window
    (the workbook's rule; Sloth's 28-day catalog: 13.44, 5.6, 2.8, 0.933).
    """

    severity: str = Field(pattern=r"^(page|ticket)$")
    long: str
    short: str
    factor: float = Field(gt=0)

    @model_validator(mode="after")
    def _windows_parse(self) -> BurnWindow:
        if parse_duration(self.short) >= parse_duration(self.long):
            raise ValueError(f"short window {self.short} must be shorter than {self.long}")
        return self

    @property
    def long_s(self) -> int:
        """The long window in seconds."""
        return parse_duration(self.long)

    @property
    def short_s(self) -> int:
        """The short window in seconds."""
        return parse_duration(self.short)

    def factor_for(self, period_days: int) -> float:
        """The burn-rate factor for an SLO period of ``period_days`` (12 significant digits)."""
        return float(f"{self.factor * period_days / 30:.12g}")

    def budget_share(self) -> float:
        """Share of the period's error budget this condition lets the long window spend."""
        return self.factor * self.long_s / (30 * SECONDS["d"])


def _sre_workbook_windows() -> tuple[BurnWindow, ...]:
    return (
        BurnWindow(severity="page", long="1h", short="5m", factor=14.4),
        BurnWindow(severity="page", long="6h", short="30m", factor=6.0),
        BurnWindow(severity="ticket", long="1d", short="2h", factor=3.0),
        BurnWindow(severity="ticket", long="3d", short="6h", factor=1.0),
    )


class BurnRatePolicy(Frozen):
    """Multi-window, multi-burn-rate alerting (Google SRE workbook, chapter 5).

    ``page_for``/``ticket_for`` add a Prometheus ``for:`` to the alerts; the workbook and
    Sloth use none (the short window already ends an alert quickly once a burn stops), so
    the default is none and the detection times in docs/runops.md hold as written.
    """

    period_days: int = Field(default=30, ge=1, le=366)
    windows: tuple[BurnWindow, ...] = Field(default_factory=_sre_workbook_windows, min_length=1)
    page_for: str | None = None
    ticket_for: str | None = None

    @model_validator(mode="after")
    def _for_parse(self) -> BurnRatePolicy:
        for value in (self.page_for, self.ticket_for):
            if value is not None:
                parse_duration(value)
        return self

    @property
    def period(self) -> str:
        """The SLO period as a Prometheus duration (``30d``)."""
        return f"{self.period_days}d"

    def factor(self, w: BurnWindow) -> float:
        """The burn-rate factor of ``w`` for this policy's period."""
        return w.factor_for(self.period_days)

    def severities(self) -> tuple[str, ...]:
        """The severities the windows use, sorted."""
        return tuple(sorted({w.severity for w in self.windows}))

    def of_severity(self, severity: str) -> tuple[BurnWindow, ...]:
        """The windows of one severity, in declaration order."""
        return tuple(w for w in self.windows if w.severity == severity)

    def window_lengths(self) -> tuple[int, ...]:
        """Every window length in seconds the rules record, ascending."""
        return tuple(sorted({s for w in self.windows for s in (w.long_s, w.short_s)}))

    def for_of(self, severity: str) -> str | None:
        """The ``for:`` of alerts of a severity (None: fire on the first evaluation)."""
        return self.page_for if severity == "page" else self.ticket_for


class ExecutorRule(Frozen):
    """Which Airflow executor runs a stage.

    A stage placed in ``airflow_region`` runs on ``local``; a stage whose tier kind is in
    ``remote_tiers`` and whose region differs from ``airflow_region`` runs on ``remote``
    (Celery workers listening on the stage's queue in that region). ``by_tier`` overrides
    both for a tier kind. ``airflow_region`` None means: the home region of the pipeline's
    first dataset, else its first candidate region, else the stage's own region.
    """

    airflow_region: str | None = None
    local: str = "LocalExecutor"
    remote: str = "CeleryExecutor"
    remote_tiers: frozenset[TierKind] = frozenset({TierKind.VM, TierKind.CONTAINER})
    by_tier: dict[TierKind, str] = Field(default_factory=dict)


def _default_priorities() -> dict[Criticality, int]:
    return {Criticality.CRITICAL: 100, Criticality.STANDARD: 10, Criticality.BEST_EFFORT: 1}


class RunOpsSettings(Frozen):
    """All composer settings (defaults documented in docs/runops.md)."""

    burn_rate: BurnRatePolicy = BurnRatePolicy()
    executor: ExecutorRule = ExecutorRule()
    priority_weight: dict[Criticality, int] = Field(default_factory=_default_priorities)
    online_latency_target: float = Field(
        default=0.95, gt=0, lt=1, description="share of requests under p95_ms (a p95 SLO)"
    )
    audit_retention_days: int = Field(default=365, ge=1)
    allocatable_fraction: float = Field(
        default=0.9, gt=0, le=1, description="share of a node's CPU/memory a pod may request"
    )
    collector_endpoint: str = "http://localhost:4318"
