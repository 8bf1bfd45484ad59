"""A plan diff as an SVG picture: objective deltas on top, changed fields below.

Reviewers approve *changes*, so the picture leads with what moves: cost, latency and risk
before → after (green when better, red when worse — lower is better for all three), then
one row per changed field grouped by stage, the new value highlighted. Deterministic and
escaped, like :mod:`airflow_cloudplan.report.frontier_svg`.
"""

from __future__ import annotations

from collections.abc import Callable

from airflow_cloudplan.report.svg import document, num, text
from airflow_cloudplan.report.units import fmt_cost, fmt_delta, fmt_latency, fmt_risk
from airflow_cloudplan.store.diff import FieldChange, PlanDiff

WIDTH = 820
ROW = 22
BETTER, WORSE, SAME = "#1a7f37", "#b2182b", "#555555"
HIGHLIGHT = "#fff3bf"
NEW = "#d3f9d8"
COLUMNS = (24, 150, 300, 560)  # stage, field, before, after
MAX_CHARS = 33

OBJECTIVES: tuple[tuple[str, str, Callable[[float], str]], ...] = (
    ("cost_usd_month", "cost / month", fmt_cost),
    ("latency_ms", "latency", fmt_latency),
    ("risk", "risk", fmt_risk),
)


def _clip(value: str | None) -> str:
    if value is None:
        return "—"
    return value if len(value) <= MAX_CHARS else value[: MAX_CHARS - 1] + "…"


def objective_colour(before: float | None, after: float) -> str:
    """Green when the objective went down (better), red when up, grey otherwise."""
    if before is None or abs(after - before) <= 1e-9 * max(1.0, abs(before)):
        return SAME
    return BETTER if after < before else WORSE


def _objective_boxes(diff: PlanDiff, y: float) -> list[str]:
    out: list[str] = []
    box_w = (WIDTH - 48 - 2 * 12) / 3
    for i, (key, label, fmt) in enumerate(OBJECTIVES):
        after = diff.objectives_after.get(key, 0.0)
        before = (diff.objectives_before or {}).get(key)
        x = 24 + i * (box_w + 12)
        colour = objective_colour(before, after)
        out.append(f'<rect x="{num(x)}" y="{num(y)}" width="{num(box_w)}" height="58" rx="6" '
                   f'fill="#f8f9fa" stroke="#ced4da" stroke-width="1"/>')
        out.append(text(x + 12, y + 19, label, size=12, fill="#555"))
        b = fmt(before) if before is not None else "—"
        out.append(text(x + 12, y + 43, f"{b} → {fmt(after)}", size=13, weight="bold"))
        out.append(text(x + box_w - 12, y + 19, fmt_delta(before, after), size=12,
                        anchor="end", fill=colour, weight="bold"))
    return out


def _change_rows(changes: tuple[FieldChange, ...], y: float) -> list[str]:
    out: list[str] = []
    header = ("stage", "field", "before", "after")
    for x, h in zip(COLUMNS, header, strict=True):
        out.append(text(x, y, h, size=12, weight="bold", fill="#333"))
    y += 8
    out.append(f'<line x1="16" y1="{num(y)}" x2="{WIDTH - 16}" y2="{num(y)}" stroke="#adb5bd" '
               f'stroke-width="1"/>')
    previous_stage = None
    for c in changes:
        y += ROW
        if c.stage != previous_stage and previous_stage is not None:
            out.append(f'<line x1="16" y1="{num(y - 15)}" x2="{WIDTH - 16}" y2="{num(y - 15)}" '
                       f'stroke="#e9ecef" stroke-width="1"/>')
        fill = NEW if c.before is None else HIGHLIGHT
        out.append(f'<rect x="{COLUMNS[3] - 6}" y="{num(y - 15)}" '
                   f'width="{WIDTH - 16 - COLUMNS[3] + 6}" height="{ROW - 2}" fill="{fill}"/>')
        stage = c.stage if c.stage != previous_stage else ""
        out.append(text(COLUMNS[0], y, _clip(stage), size=12, weight="bold"))
        out.append(text(COLUMNS[1], y, c.field, size=12, fill="#333"))
        out.append(text(COLUMNS[2], y, _clip(c.before), size=12, fill="#868e96",
                        extra=' text-decoration="line-through"' if c.before else ""))
        out.append(text(COLUMNS[3], y, _clip(c.after), size=12, fill="#111"))
        previous_stage = c.stage
    return out


def _by_stage(diff: PlanDiff) -> tuple[FieldChange, ...]:
    """Changes grouped by stage (stages in order of first change, fields in diff order)."""
    order = {s: i for i, s in enumerate(diff.changed_stages())}
    return tuple(sorted(diff.changes, key=lambda c: order[c.stage]))


def diff_svg(diff: PlanDiff) -> str:
    """The picture of what approving ``diff.new_version`` would change."""
    old = (diff.old_version or "none")[:12]
    title = f"{diff.pipeline}: plan {old} → {diff.new_version[:12]}"
    body = [text(24, 28, title, size=15, weight="bold")]
    stages = diff.changed_stages()
    summary = (f"{len(diff.changes)} field change{'s' if len(diff.changes) != 1 else ''} in "
               f"{len(stages)} stage{'s' if len(stages) != 1 else ''}"
               if diff.changes else "no placement changes")
    if diff.old_version is None:
        summary += " (no active plan: every field is new)"
    body.append(text(24, 48, summary, size=12, fill="#555"))
    body += _objective_boxes(diff, 62)
    y = 150.0
    if diff.changes:
        body += _change_rows(_by_stage(diff), y)
        height = int(y + 8 + ROW * len(diff.changes) + 20)
    else:
        height = int(y)
    desc = (f"Changes from plan {old} to {diff.new_version[:12]} of {diff.pipeline}: "
            f"{summary}.")
    return document(WIDTH, height, title, desc, body)
