"""The Pareto frontier of a plan as an SVG scatter: cost (x) against latency (y).

The frontier is three-dimensional (C, L, R); the picture shows the two axes people trade
most often and encodes risk twice — as colour (green low, red high) and as marker size —
so a point that looks dominated in the (C, L) plane is visibly "paying" for lower risk.
The colour scale spans the frontier's own risks (the choice the reviewer makes); baselines
and the active plan carry their risk in their label and tooltip.
The recommended point gets a ring, the active plan a diamond, and each baseline a cross
with its name (and its number of gate violations: baselines are scored by the same models
and checked by the same gates, so the picture shows what ignoring the gates would buy).
"""

from __future__ import annotations

from dataclasses import dataclass

from airflow_cloudplan.model.plan import EvaluatedPlan, Objectives, PlanResult
from airflow_cloudplan.report.svg import document, esc, nice_ticks, num, ramp, text
from airflow_cloudplan.report.units import (
    fmt_cost,
    fmt_cost_short,
    fmt_latency,
    fmt_risk,
    latency_unit,
)

WIDTH, HEIGHT = 780, 470
LEFT, RIGHT, TOP, BOTTOM = 78, 214, 44, 62  # plot margins; the legend lives on the right
RECOMMENDED = "#1f4e9c"
ACTIVE = "#6a3d9a"
BASELINE = "#444444"
VIOLATION = "#b2182b"
GRID = "#e6e6e6"


@dataclass(frozen=True)
class _Frame:
    """Maps objective values to pixel coordinates of the plot area."""

    c_lo: float
    c_hi: float
    l_lo: float
    l_hi: float
    r_lo: float
    r_hi: float

    def x(self, cost: float) -> float:
        span = self.c_hi - self.c_lo or 1.0
        return LEFT + (cost - self.c_lo) / span * (WIDTH - LEFT - RIGHT)

    def y(self, latency_ms: float) -> float:
        span = self.l_hi - self.l_lo or 1.0
        return HEIGHT - BOTTOM - (latency_ms - self.l_lo) / span * (HEIGHT - TOP - BOTTOM)

    def t(self, risk: float) -> float:
        """Risk scaled to [0, 1] over the frontier (0.5 when all risks are equal)."""
        span = self.r_hi - self.r_lo
        return 0.5 if span <= 0 else min(1.0, max(0.0, (risk - self.r_lo) / span))

    def radius(self, risk: float) -> float:
        return 4.5 + 6.5 * self.t(risk)


def _frame(points: list[Objectives], frontier: list[Objectives],
           unit_ms: float) -> tuple[_Frame, list[float], list[float]]:
    """Axes span everything drawn; the risk scale spans the frontier (the choice at hand)."""
    costs = [p.cost_usd_month for p in points]
    lats = [p.latency_ms / unit_ms for p in points]
    risks = [p.risk for p in frontier]

    def padded(lo: float, hi: float) -> tuple[float, float]:
        pad = (hi - lo) * 0.06 or max(abs(hi) * 0.1, 1.0)
        return max(0.0, lo - pad) if lo >= 0 else lo - pad, hi + pad

    xt = nice_ticks(*padded(min(costs), max(costs)))
    yt = nice_ticks(*padded(min(lats), max(lats)))
    frame = _Frame(xt[0], xt[-1], yt[0] * unit_ms, yt[-1] * unit_ms, min(risks), max(risks))
    return frame, xt, yt


def _tooltip(label: str, o: Objectives, unit: tuple[str, float]) -> str:
    return (f"{label}: {fmt_cost(o.cost_usd_month)}/month, latency "
            f"{fmt_latency(o.latency_ms, unit)}, risk {fmt_risk(o.risk)}")


class _Labels:
    """Places short labels next to markers, avoiding markers and earlier labels."""

    def __init__(self) -> None:
        self.boxes: list[tuple[float, float, float, float]] = []

    def obstacle(self, x: float, y: float, r: float) -> None:
        """Reserve the square around a marker."""
        self.boxes.append((x - r, y - r, x + r, y + r))

    def _free(self, box: tuple[float, float, float, float]) -> bool:
        inside = (box[0] >= LEFT and box[2] <= WIDTH - RIGHT and box[1] >= TOP
                  and box[3] <= HEIGHT - BOTTOM)
        return inside and not any(box[0] < b[2] and b[0] < box[2] and box[1] < b[3]
                                  and b[1] < box[3] for b in self.boxes)

    def place(self, x: float, y: float, r: float, label: str,
              size: int = 11) -> tuple[float, float, str]:
        """Where to write ``label`` for the marker at (x, y): (x, baseline y, anchor)."""
        w = 0.62 * size * len(label)
        candidates = [("start", x + r + 4, y - r - 3), ("start", x + r + 4, y + r + size + 2),
                      ("end", x - r - 4, y - r - 3), ("end", x - r - 4, y + r + size + 2),
                      ("middle", x, y - r - 5), ("middle", x, y + r + size + 4)]

        def box(anchor: str, lx: float, ly: float) -> tuple[float, float, float, float]:
            x0 = {"start": lx, "end": lx - w, "middle": lx - w / 2}[anchor]
            return (x0, ly - size, x0 + w, ly + 3)

        for anchor, lx, ly in candidates:
            if self._free(box(anchor, lx, ly)):
                self.boxes.append(box(anchor, lx, ly))
                return lx, ly, anchor
        step = size + 3
        for k in range(1, 12):  # crowded: move further away, up then down
            for anchor, lx, ly in candidates[:4]:
                for dy in (-k * step, k * step):
                    if self._free(box(anchor, lx, ly + dy)):
                        self.boxes.append(box(anchor, lx, ly + dy))
                        return lx, ly + dy, anchor
        anchor, lx, ly = candidates[0] if x + r + 4 + w <= WIDTH - RIGHT else candidates[2]
        return lx, ly, anchor


def _axes(frame: _Frame, xt: list[float], yt: list[float], unit: tuple[str, float]) -> list[str]:
    out: list[str] = []
    x0, x1 = LEFT, WIDTH - RIGHT
    y0, y1 = HEIGHT - BOTTOM, TOP
    for v in xt:
        x = frame.x(v)
        out.append(f'<line x1="{num(x)}" y1="{num(y0)}" x2="{num(x)}" y2="{num(y1)}" '
                   f'stroke="{GRID}" stroke-width="1"/>')
        out.append(text(x, y0 + 17, fmt_cost_short(v), size=11, anchor="middle", fill="#444"))
    for v in yt:
        y = frame.y(v * unit[1])
        out.append(f'<line x1="{num(x0)}" y1="{num(y)}" x2="{num(x1)}" y2="{num(y)}" '
                   f'stroke="{GRID}" stroke-width="1"/>')
        out.append(text(x0 - 7, y + 4, f"{v:g}", size=11, anchor="end", fill="#444"))
    out.append(f'<rect x="{x0}" y="{y1}" width="{x1 - x0}" height="{y0 - y1}" fill="none" '
               f'stroke="#888" stroke-width="1"/>')
    out.append(text((x0 + x1) / 2, HEIGHT - 18, "cost (USD / month)", size=12, anchor="middle"))
    cy = (y0 + y1) / 2
    out.append(text(20, cy, f"end-to-end latency ({unit[0]})", size=12, anchor="middle",
                    extra=f' transform="rotate(-90 20 {num(cy)})"'))
    return out


def _legend(frame: _Frame) -> list[str]:
    lx = WIDTH - RIGHT + 22
    out = [text(lx, TOP + 6, "risk of frontier plans", size=12, weight="bold")]
    for i in range(5):
        t = i / 4
        risk = frame.r_lo + t * (frame.r_hi - frame.r_lo)
        y = TOP + 26 + i * 22
        out.append(f'<circle cx="{num(lx + 10)}" cy="{num(y)}" r="{num(frame.radius(risk))}" '
                   f'fill="{ramp(t)}" stroke="#333" stroke-width="0.8"/>')
        out.append(text(lx + 28, y + 4, fmt_risk(risk), size=11, fill="#444"))
    y = TOP + 160
    out.append(text(lx, y, "markers", size=12, weight="bold"))
    y += 22
    out.append(f'<circle cx="{num(lx + 10)}" cy="{num(y)}" r="6" fill="#bbbbbb" stroke="#333" '
               f'stroke-width="0.8"/>')
    out.append(text(lx + 28, y + 4, "frontier point", size=11))
    y += 24
    out.append(f'<circle cx="{num(lx + 10)}" cy="{num(y)}" r="10" fill="none" '
               f'stroke="{RECOMMENDED}" stroke-width="2.5"/>')
    out.append(text(lx + 28, y + 4, "recommended", size=11))
    y += 24
    out.append(_diamond(lx + 10, y, 9))
    out.append(text(lx + 28, y + 4, "active plan", size=11))
    y += 24
    out.append(_cross(lx + 10, y, 6, BASELINE))
    out.append(text(lx + 28, y + 4, "baseline", size=11))
    y += 24
    out.append(_cross(lx + 10, y, 6, VIOLATION))
    out.append(text(lx + 28, y + 4, "baseline violating", size=11))
    out.append(text(lx + 28, y + 18, "the gates", size=11))
    return out


def _diamond(x: float, y: float, s: float) -> str:
    return (f'<path d="M {num(x)} {num(y - s)} L {num(x + s)} {num(y)} L {num(x)} {num(y + s)} '
            f'L {num(x - s)} {num(y)} Z" fill="none" stroke="{ACTIVE}" stroke-width="2.2" '
            f'stroke-dasharray="4 2"/>')


def _cross(x: float, y: float, s: float, colour: str) -> str:
    return (f'<path d="M {num(x - s)} {num(y - s)} L {num(x + s)} {num(y + s)} '
            f'M {num(x - s)} {num(y + s)} L {num(x + s)} {num(y - s)}" stroke="{colour}" '
            f'stroke-width="2.4" stroke-linecap="round" fill="none"/>')


def frontier_svg(plan: PlanResult, active: EvaluatedPlan | None = None) -> str:
    """The frontier picture of ``plan`` (with ``active`` marked when given), as SVG text.

    Deterministic: the same plan gives byte-identical output. Every text is escaped.
    """
    drawn = [p.objectives for p in plan.frontier]
    drawn += [b.plan.objectives for b in plan.baselines]
    if active is not None:
        drawn.append(active.objectives)
    unit = latency_unit(max(o.latency_ms for o in drawn))
    frame, xt, yt = _frame(drawn, [p.objectives for p in plan.frontier], unit[1])
    labels = _Labels()
    body = _axes(frame, xt, yt, unit) + _legend(frame)
    for p in plan.frontier:
        o = p.objectives
        labels.obstacle(frame.x(o.cost_usd_month), frame.y(o.latency_ms), frame.radius(o.risk))
    for o in [b.plan.objectives for b in plan.baselines]:
        labels.obstacle(frame.x(o.cost_usd_month), frame.y(o.latency_ms), 6)
    if active is not None:
        o = active.objectives
        labels.obstacle(frame.x(o.cost_usd_month), frame.y(o.latency_ms), 11)
    o = plan.recommendation.objectives
    labels.obstacle(frame.x(o.cost_usd_month), frame.y(o.latency_ms),
                    frame.radius(o.risk) + 5)

    # Frontier points, highest risk first so small low-risk markers stay on top.
    order = sorted(range(len(plan.frontier)),
                   key=lambda i: (-plan.frontier[i].objectives.risk, i))
    for i in order:
        o = plan.frontier[i].objectives
        x, y, r = frame.x(o.cost_usd_month), frame.y(o.latency_ms), frame.radius(o.risk)
        proven = "" if plan.frontier[i].proven_optimal else " (not proven optimal)"
        body.append(f'<circle cx="{num(x)}" cy="{num(y)}" r="{num(r)}" '
                    f'fill="{ramp(frame.t(o.risk))}" fill-opacity="0.9" stroke="#333" '
                    f'stroke-width="0.8">'
                    f"<title>{esc(_tooltip(f'frontier point {i}{proven}', o, unit))}</title>"
                    "</circle>")

    for b in plan.baselines:
        o = b.plan.objectives
        x, y = frame.x(o.cost_usd_month), frame.y(o.latency_ms)
        n = len(b.plan.violations)
        colour = VIOLATION if n else BASELINE
        label = f"{b.name}: risk {fmt_risk(o.risk)}"
        if n:
            label += f", {n} violation{'s' if n != 1 else ''}"
        body.append(f"<g>{_cross(x, y, 6, colour)}"
                    f"<title>{esc(_tooltip(f'baseline {b.name}', o, unit))}</title></g>")
        lx, ly, anchor = labels.place(x, y, 6, label)
        body.append(text(lx, ly, label, size=11, anchor=anchor, fill=colour))

    if active is not None:
        o = active.objectives
        x, y = frame.x(o.cost_usd_month), frame.y(o.latency_ms)
        body.append(f"<g>{_diamond(x, y, 11)}"
                    f"<title>{esc(_tooltip('active plan', o, unit))}</title></g>")
        lx, ly, anchor = labels.place(x, y, 11, "active")
        body.append(text(lx, ly, "active", size=11, anchor=anchor, fill=ACTIVE, weight="bold"))

    rec = plan.recommendation.objectives
    x, y = frame.x(rec.cost_usd_month), frame.y(rec.latency_ms)
    r = frame.radius(rec.risk) + 5
    body.append(f'<circle cx="{num(x)}" cy="{num(y)}" r="{num(r)}" fill="none" '
                f'stroke="{RECOMMENDED}" stroke-width="2.5">'
                f"<title>{esc(_tooltip('recommended', rec, unit))}</title></circle>")
    lx, ly, anchor = labels.place(x, y, r, "recommended")
    body.append(text(lx, ly, "recommended", size=11, anchor=anchor, fill=RECOMMENDED,
                     weight="bold"))

    n = len(plan.frontier)
    title = f"{plan.pipeline}: Pareto frontier of {n} plan{'s' if n != 1 else ''}"
    body.insert(0, text(LEFT, 24, title, size=14, weight="bold"))
    desc = (f"Cost against latency of the {n} non-dominated plans of {plan.pipeline}; "
            f"risk as colour and size. Recommended: {_tooltip('plan', rec, unit)}.")
    return document(WIDTH, HEIGHT, title, desc, body)
