"""Drift and quality measures a monitor stage reports.

The population stability index compares a feature's distribution in production
(``actual``) with its training distribution (``expected``) over the expected's quantile
bins: PSI = Σ_b (a_b − e_b) · ln(a_b / e_b). Common reading: < 0.1 stable, 0.1–0.25
moderate shift, > 0.25 significant shift.
"""

from __future__ import annotations

from collections.abc import Sequence

PSI_EPSILON = 1e-6
"""Floor for empty bins so the logarithm stays finite."""


def population_stability_index(
    expected: Sequence[float], actual: Sequence[float], bins: int = 10
) -> float:
    """PSI of ``actual`` against ``expected`` over ``bins`` quantile bins of ``expected``."""
    import numpy as np

    e = np.asarray(expected, dtype=float)
    a = np.asarray(actual, dtype=float)
    if e.size == 0 or a.size == 0:
        raise ValueError("population_stability_index needs two non-empty samples")
    edges = np.unique(np.quantile(e, np.linspace(0, 1, bins + 1)))
    if edges.size < 2:
        return 0.0 if np.all(a == e[0]) else float("inf")
    edges[0], edges[-1] = -np.inf, np.inf
    e_share = np.histogram(e, edges)[0] / e.size
    a_share = np.histogram(a, edges)[0] / a.size
    e_share = np.clip(e_share, PSI_EPSILON, None)
    a_share = np.clip(a_share, PSI_EPSILON, None)
    return float(np.sum((a_share - e_share) * np.log(a_share / e_share)))
