"""SVG pictures of the evaluation: latency CDFs, cost breakdowns, SLO violations over time.

Hand-written, deterministic SVG with the same building blocks as the plan pictures
(:mod:`airflow_cloudplan.report.svg`): no scripts, no ``style`` attributes, fixed number
formatting, so the files are byte-identical for the same results and safe under the UI's
Content-Security-Policy.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from airflow_cloudplan.report.svg import document, esc, nice_ticks, num, text
from airflow_cloudplan.report.units import fmt_cost_short
from airflow_cloudplan.simulate.protocol.run import PlanOutcome, ScenarioOutcome
from airflow_cloudplan.simulate.results import CDF_TAIL

WIDTH = 760
PALETTE = {"recommended": "#1f4e9c", "compute-centric": "#d95f02",
           "locality-only": "#1b9e77", "rules-based-autoscaling": "#7570b3"}
EXTRA = ("#e7298a", "#66a61e", "#a6761d", "#666666")
DASHES = {"recommended": "", "compute-centric": "6 3", "locality-only": "2 3",
          "rules-based-autoscaling": "8 3 2 3"}
COST_PARTS = (("cost_compute", "compute", "#4e79a7"), ("cost_storage", "storage", "#f28e2b"),
              ("cost_egress", "egress", "#e15759"))
GRID = "#e6e6e6"


def colour(label: str, i: int) -> str:
    """The plan's colour (fixed for the planner's plans)."""
    return PALETTE.get(label, EXTRA[i % len(EXTRA)])


TIME_TICKS = ((0.001, "1 ms"), (0.01, "10 ms"), (0.1, "100 ms"), (1.0, "1 s"),
              (10.0, "10 s"), (60.0, "1 min"), (600.0, "10 min"), (3600.0, "1 h"),
              (36000.0, "10 h"), (86400.0, "1 d"), (864000.0, "10 d"), (8640000.0, "100 d"),
              (86400000.0, "1000 d"))
"""Round times for a logarithmic time axis."""


def _legend(plans: Sequence[PlanOutcome], x: float, y: float) -> list[str]:
    out = []
    for i, p in enumerate(plans):
        yy = y + i * 18
        dash = DASHES.get(p.label, "")
        d = f' stroke-dasharray="{dash}"' if dash else ""
        out.append(f'<line x1="{num(x)}" y1="{num(yy - 4)}" x2="{num(x + 22)}" '
                   f'y2="{num(yy - 4)}" stroke="{colour(p.label, i)}" stroke-width="2.5"{d}/>')
        out.append(text(x + 28, yy, p.label, size=11))
    return out


def latency_cdf(sc: ScenarioOutcome) -> str:
    """Latency CDFs (log-scaled time axis) of the recommendation and the baselines."""
    height, left, right, top, bottom = 400, 70, 210, 40, 50
    plans = [p for p in sc.plans if p.cdf_s]
    finite = [v for p in plans for v in p.cdf_s if math.isfinite(v) and v > 0]
    lo = 10 ** math.floor(math.log10(min(finite))) if finite else 0.1
    hi = 10 ** math.ceil(math.log10(max(finite))) if finite else 10.0
    hi = max(hi, lo * 10)
    w, h = WIDTH - left - right, height - top - bottom

    def x(v: float) -> float:
        if not math.isfinite(v):
            return left + w
        v = min(max(v, lo), hi)
        return left + (math.log10(v) - math.log10(lo)) / (math.log10(hi) - math.log10(lo)) * w

    def y(q: float) -> float:
        return top + h - q * h

    body = [f'<rect x="{left}" y="{top}" width="{w}" height="{h}" fill="none" stroke="#999"/>']
    ticks = [t for t in TIME_TICKS if lo <= t[0] <= hi]
    if len(ticks) > 8:
        ticks = ticks[::2]
    for value, label in ticks:
        body.append(f'<line x1="{num(x(value))}" y1="{top}" x2="{num(x(value))}" '
                    f'y2="{top + h}" stroke="{GRID}"/>')
        body.append(text(x(value), top + h + 16, label, size=11, anchor="middle"))
    for q in (0.0, 0.25, 0.5, 0.75, 0.95, 1.0):
        body.append(f'<line x1="{left}" y1="{num(y(q))}" x2="{left + w}" y2="{num(y(q))}" '
                    f'stroke="{GRID}"/>')
        body.append(text(left - 6, y(q) + 4, f"{q:g}", size=11, anchor="end"))
    slo_s = sc.slo_s
    if slo_s is not None and lo <= slo_s <= hi:
        body.append(f'<line x1="{num(x(slo_s))}" y1="{top}" x2="{num(x(slo_s))}" '
                    f'y2="{top + h}" stroke="#b2182b" stroke-dasharray="4 3"/>')
        body.append(text(x(slo_s) + 4, top + 12, f"SLO {sc.slo}", size=11, fill="#b2182b"))
    qs = [*[i / 100 for i in range(101)], *CDF_TAIL]
    for i, p in enumerate(plans):
        pairs = sorted(zip(qs, p.cdf_s, strict=False))
        pts = " ".join(f"{num(x(v))},{num(y(q))}" for q, v in pairs)
        dash = DASHES.get(p.label, "")
        d = f' stroke-dasharray="{dash}"' if dash else ""
        body.append(f'<polyline points="{pts}" fill="none" stroke="{colour(p.label, i)}" '
                    f'stroke-width="2"{d}><title>{esc(p.label)}</title></polyline>')
    body += _legend(plans, WIDTH - right + 16, top + 14)
    what = "request response time" if sc.mode == "online" else "run completion time"
    body.append(text(left + w / 2, height - 10, f"{what} (log scale; mean over seeds of each "
                     "quantile)", size=12, anchor="middle"))
    body.append(text(left, top - 14, f"{sc.title}: latency CDF", size=13, weight="bold"))
    return document(WIDTH, height, f"{sc.title}: latency CDF",
                    f"CDF of the {what} per plan, simulated", body)


def cost_bars(sc: ScenarioOutcome) -> str:
    """Simulated monthly cost per plan, stacked by what is paid, with the prediction."""
    height, left, right, top, bottom = 360, 80, 170, 40, 70
    plans = list(sc.plans)
    w, h = WIDTH - left - right, height - top - bottom
    peak = max(max(p.sim["cost_total"].hi, p.predicted_cost_usd_month) for p in plans)
    ticks = nice_ticks(0.0, peak * 1.05)
    top_v = ticks[-1]

    def y(v: float) -> float:
        return top + h - v / top_v * h

    body = [f'<rect x="{left}" y="{top}" width="{w}" height="{h}" fill="none" stroke="#999"/>']
    for t in ticks:
        body.append(f'<line x1="{left}" y1="{num(y(t))}" x2="{left + w}" y2="{num(y(t))}" '
                    f'stroke="{GRID}"/>')
        body.append(text(left - 6, y(t) + 4, fmt_cost_short(t), size=11, anchor="end"))
    slot = w / max(1, len(plans))
    bar = min(60.0, slot * 0.5)
    for i, p in enumerate(plans):
        cx = left + slot * (i + 0.5)
        base = 0.0
        for key, name, fill in COST_PARTS:
            v = p.sim[key].mean
            if v <= 0:
                continue
            body.append(f'<rect x="{num(cx - bar / 2)}" y="{num(y(base + v))}" '
                        f'width="{num(bar)}" height="{num(y(base) - y(base + v))}" '
                        f'fill="{fill}"><title>{esc(f"{p.label} {name}: ${v:,.0f}/month")}'
                        f'</title></rect>')
            base += v
        lo_v, hi_v = p.sim["cost_total"].lo, p.sim["cost_total"].hi
        body.append(f'<line x1="{num(cx)}" y1="{num(y(lo_v))}" x2="{num(cx)}" '
                    f'y2="{num(y(hi_v))}" stroke="#222" stroke-width="1.5"/>')
        pred = p.predicted_cost_usd_month
        body.append(f'<path d="M {num(cx + bar / 2 + 4)} {num(y(pred))} l 8 -5 l 0 10 z" '
                    f'fill="#222"><title>{esc(f"planner predicted ${pred:,.0f}/month")}'
                    f'</title></path>')
        body.append(text(cx, top + h + 16, p.label, size=10, anchor="middle"))
    lx = WIDTH - right + 16
    for j, (_, name, fill) in enumerate(COST_PARTS):
        body.append(f'<rect x="{lx}" y="{top + 6 + j * 18}" width="12" height="12" '
                    f'fill="{fill}"/>')
        body.append(text(lx + 18, top + 16 + j * 18, f"{name} (simulated)", size=11))
    body.append(f'<path d="M {lx} {top + 70} l 8 -5 l 0 10 z" fill="#222"/>')
    body.append(text(lx + 18, top + 74, "planner's prediction", size=11))
    body.append(f'<line x1="{lx + 4}" y1="{top + 86}" x2="{lx + 4}" y2="{top + 100}" '
                f'stroke="#222" stroke-width="1.5"/>')
    body.append(text(lx + 18, top + 98, "range over seeds", size=11))
    body.append(text(left + w / 2, height - 12, "USD per month (simulated window normalised "
                     "to 730 h)", size=12, anchor="middle"))
    body.append(text(left, top - 14, f"{sc.title}: cost by plan", size=13, weight="bold"))
    return document(WIDTH, height, f"{sc.title}: cost breakdown",
                    "Simulated compute, storage and egress cost per plan with the planner's "
                    "prediction", body)


def slo_over_time(sc: ScenarioOutcome, window_buckets: int = 5) -> str:
    """SLO violation ratio (top) and ready replicas (bottom) over the replayed window."""
    height, left, right, top, bottom = 470, 70, 210, 40, 46
    gap = 30
    plans = [p for p in sc.plans if p.series is not None]
    panel = (height - top - bottom - gap) / 2
    w = WIDTH - left - right
    s0 = plans[0].series
    assert s0 is not None
    span = len(s0.requests) * s0.bucket_s

    def x(t: float) -> float:
        return left + t / span * w

    def windows(p: PlanOutcome) -> tuple[list[float], list[float], list[float]]:
        s = p.series
        assert s is not None
        ts, ratio, ready = [], [], []
        for i in range(0, len(s.requests), window_buckets):
            req = sum(s.requests[i:i + window_buckets])
            bad = sum(s.violations[i:i + window_buckets])
            rd = s.ready[i:i + window_buckets]
            ts.append((i + len(rd) / 2) * s.bucket_s)
            ratio.append(bad / req if req else 0.0)
            ready.append(sum(rd) / len(rd))
        return ts, ratio, ready

    data = [windows(p) for p in plans]
    top2 = top + panel + gap
    peak_ready = max(max(d[2]) for d in data) or 1.0
    rticks = nice_ticks(0.0, peak_ready)
    body = []
    for y0 in (top, top2):
        body.append(f'<rect x="{left}" y="{num(y0)}" width="{w}" height="{num(panel)}" '
                    f'fill="none" stroke="#999"/>')
    for q in (0.0, 0.25, 0.5, 0.75, 1.0):
        yy = top + panel - q * panel
        body.append(f'<line x1="{left}" y1="{num(yy)}" x2="{left + w}" y2="{num(yy)}" '
                    f'stroke="{GRID}"/>')
        body.append(text(left - 6, yy + 4, f"{q:g}", size=11, anchor="end"))
    for t in rticks:
        yy = top2 + panel - t / rticks[-1] * panel
        body.append(f'<line x1="{left}" y1="{num(yy)}" x2="{left + w}" y2="{num(yy)}" '
                    f'stroke="{GRID}"/>')
        body.append(text(left - 6, yy + 4, f"{t:g}", size=11, anchor="end"))
    hours = nice_ticks(0.0, span / 3600.0)
    for hr in hours:
        if hr * 3600 > span:
            continue
        body.append(text(x(hr * 3600), top2 + panel + 16, f"{hr:g} h", size=11,
                         anchor="middle"))
    for i, (p, (ts, ratio, ready)) in enumerate(zip(plans, data, strict=True)):
        dash = DASHES.get(p.label, "")
        d = f' stroke-dasharray="{dash}"' if dash else ""
        c = colour(p.label, i)
        pts = " ".join(f"{num(x(t))},{num(top + panel - r * panel)}"
                       for t, r in zip(ts, ratio, strict=True))
        body.append(f'<polyline points="{pts}" fill="none" stroke="{c}" stroke-width="1.6"{d}>'
                    f'<title>{esc(p.label)}</title></polyline>')
        pts = " ".join(f"{num(x(t))},{num(top2 + panel - v / rticks[-1] * panel)}"
                       for t, v in zip(ts, ready, strict=True))
        body.append(f'<polyline points="{pts}" fill="none" stroke="{c}" stroke-width="1.6"{d}>'
                    f'<title>{esc(p.label)}</title></polyline>')
    body += _legend(plans, WIDTH - right + 16, top + 14)
    minutes = window_buckets * s0.bucket_s / 60
    body.append(text(left, top - 10, f"share of requests over the SLO ({sc.slo}) per "
                     f"{minutes:g} min", size=12, weight="bold"))
    body.append(text(left, top2 - 8, "ready replicas (autoscaler's count)", size=12,
                     weight="bold"))
    body.append(text(left + w / 2, height - 8, "time into the replayed trace (seed 0)",
                     size=12, anchor="middle"))
    return document(WIDTH, height, f"{sc.title}: SLO violations over time",
                    "Per-window SLO violation ratio and ready replicas per plan", body)


__all__ = ["cost_bars", "latency_cdf", "slo_over_time"]
