"""Observability coverage: the share of stages whose configured telemetry meets policy.

A stage is *covered* when every signal its criticality (and mode) requires is configured
for it, which happens only if its service tier can emit that signal. The paper reports
this as "% of stages instrumented above threshold"; the threshold is the observability
policy's ``min_coverage``.
"""

from __future__ import annotations

from dataclasses import dataclass

from airflow_cloudplan.model.catalog import Signal
from airflow_cloudplan.runops.context import ComposeContext


@dataclass(frozen=True)
class Coverage:
    """Coverage of a plan overall and per signal, with what each uncovered stage lacks."""

    coverage: float
    per_signal: dict[str, float]
    covered: tuple[str, ...]
    missing: dict[str, tuple[str, ...]]


def observability_coverage(ctx: ComposeContext) -> Coverage:
    """Coverage of the recommendation under the policy's signal requirements."""
    placements = ctx.placements
    missing: dict[str, tuple[str, ...]] = {}
    for p in placements:
        lack = p.signals - p.emitted_signals
        if lack:
            missing[p.name] = tuple(sorted(lack))
    per_signal: dict[str, float] = {}
    for signal in sorted(Signal):
        needing = [p for p in placements if signal in p.signals]
        if needing:
            ok = sum(1 for p in needing if signal in p.emitted_signals)
            per_signal[str(signal)] = ok / len(needing)
    covered = tuple(p.name for p in placements if p.name not in missing)
    total = len(placements)
    return Coverage(
        coverage=len(covered) / total if total else 1.0,
        per_signal=per_signal,
        covered=covered,
        missing=missing,
    )
