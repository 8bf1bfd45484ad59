"""Small building blocks for hand-written, deterministic SVG.

Why hand-written: the pictures are embedded in an Airflow page under a strict
Content-Security-Policy (no inline ``style`` attributes, no scripts), committed to the docs
as golden files, and must be byte-identical for identical plans. So there are no random
ids, no timestamps, numbers are printed with a fixed precision, and every piece of text
goes through :func:`esc`. Presentation uses SVG attributes (``fill``, ``stroke``), never
``style=``, so the CSP ``style-src`` needs no ``'unsafe-inline'``.
"""

from __future__ import annotations

import math
from html import escape

FONT = "DejaVu Sans, Helvetica, Arial, sans-serif"

# A diverging ramp (ColorBrewer RdYlGn, reversed): low risk green, high risk red.
RISK_RAMP = ((26, 152, 80), (254, 224, 139), (215, 48, 39))


def esc(text: object) -> str:
    """Text made safe for SVG/HTML element content and attribute values."""
    return escape(str(text), quote=True)


def num(x: float) -> str:
    """A coordinate with two decimals and no ``-0.00`` (deterministic output)."""
    s = f"{x:.2f}"
    return "0.00" if s == "-0.00" else s


def ramp(t: float, stops: tuple[tuple[int, int, int], ...] = RISK_RAMP) -> str:
    """The colour at ``t`` in [0, 1] of a piecewise-linear RGB ramp, as ``#rrggbb``."""
    t = min(1.0, max(0.0, t))
    span = t * (len(stops) - 1)
    i = min(int(span), len(stops) - 2)
    f = span - i
    a, b = stops[i], stops[i + 1]
    r, g, bl = (round(a[k] + (b[k] - a[k]) * f) for k in range(3))
    return f"#{r:02x}{g:02x}{bl:02x}"


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round tick values (1, 2, 2.5 or 5 × 10^k) covering [lo, hi]."""
    if not math.isfinite(lo) or not math.isfinite(hi):
        return [0.0]
    if hi - lo <= 1e-9 * max(1.0, abs(lo), abs(hi)):  # (near) empty range: widen it
        hi = lo + max(abs(lo), 1.0)
    raw = (hi - lo) / max(1, count)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    start = math.floor(lo / step) * step
    ticks = []
    k = 0
    while True:
        v = start + k * step
        ticks.append(round(v, 10))
        if v >= hi - 1e-9 * step:
            break
        k += 1
    return ticks


def text(x: float, y: float, content: object, *, size: int = 12, anchor: str = "start",
         fill: str = "#222", weight: str = "normal", extra: str = "") -> str:
    """A ``<text>`` element with escaped content."""
    w = f' font-weight="{weight}"' if weight != "normal" else ""
    return (f'<text x="{num(x)}" y="{num(y)}" font-size="{size}" text-anchor="{anchor}" '
            f'fill="{fill}"{w}{extra}>{esc(content)}</text>')


def document(width: int, height: int, title: str, description: str, body: list[str]) -> str:
    """A standalone SVG document (also valid inline in HTML5)."""
    return "\n".join([
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" font-family="{esc(FONT)}">',
        f"<title>{esc(title)}</title>",
        f"<desc>{esc(description)}</desc>",
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>',
        *body,
        "</svg>",
        "",
    ])
