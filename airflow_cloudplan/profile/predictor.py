"""Online run-time prediction from a hierarchy of feature keys.

The "MLaaS in the Wild" study predicts a task's run time from tasks that share its group
tag, user and resource request. :class:`RuntimePredictor` generalises that: it is given
*levels* of feature names, most specific first (e.g. ``group+model+steps+images`` →
``model+steps+images`` → ``steps+images``), keeps the latest runs seen under every key of
every level, and predicts from the most specific key that has enough support.

Robustness: the estimate is an exponentially-decayed *weighted median* of the latest
``window`` runs under the key (recent runs weigh more, so a trend moves it within a few
runs, and a single outlier cannot move a median). The interval is the decayed 10th–90th
percentile. ``confidence`` is the decayed share of the key's recent runs that the
estimate would itself have predicted within 25%: callers that prefer abstaining to
guessing set ``min_confidence`` and get ``None`` for keys whose history is too noisy.

Pure Python and online: ``observe`` after each finished run, ``predict`` before the next.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from airflow_cloudplan.model.workload import RuntimePrediction

WITHIN = 0.25
"""The accuracy band the study reports (and we score): |predicted − actual| ≤ 25% of actual."""


@dataclass(frozen=True)
class Estimate:
    """A prediction plus how far to trust it."""

    prediction: RuntimePrediction
    confidence: float


def weighted_quantile(values: Sequence[float], weights: Sequence[float], q: float) -> float:
    """The lower weighted q-quantile of ``values``."""
    pairs = sorted(zip(values, weights, strict=True))
    total = sum(w for _, w in pairs)
    acc = 0.0
    for value, weight in pairs:
        acc += weight
        if acc >= q * total - 1e-12:
            return value
    return pairs[-1][0]


def size_bucket(value: float) -> str:
    """Input sizes as power-of-two buckets: runs of similar size share a key."""
    if value <= 0:
        return "0"
    return f"2^{math.floor(math.log2(value))}"


class RuntimePredictor:
    """Predict run time from earlier runs, falling back from specific to general keys."""

    def __init__(
        self,
        levels: Sequence[Sequence[str]],
        *,
        window: int = 16,
        half_life: float = 6.0,
        min_support: int = 1,
        min_confidence: float = 0.0,
        bucketed: Sequence[str] = (),
    ) -> None:
        if not levels:
            raise ValueError("give at least one level of feature names")
        self.levels = [tuple(level) for level in levels]
        self.window = window
        self.decay = 0.5 ** (1.0 / half_life)
        self.min_support = min_support
        self.min_confidence = min_confidence
        self.bucketed = frozenset(bucketed)
        self._history: dict[tuple[int, tuple[str, ...]], deque[float]] = {}

    def _keys(self, features: Mapping[str, object]) -> list[tuple[int, tuple[str, ...]]]:
        keys = []
        for i, level in enumerate(self.levels):
            parts = []
            for name in level:
                value = features.get(name)
                if name in self.bucketed and isinstance(value, int | float):
                    parts.append(size_bucket(float(value)))
                else:
                    parts.append("" if value is None else str(value))
            keys.append((i, tuple(parts)))
        return keys

    def observe(self, features: Mapping[str, object], seconds: float) -> None:
        """Record a finished run under every level's key."""
        for key in self._keys(features):
            runs = self._history.get(key)
            if runs is None:
                runs = self._history[key] = deque(maxlen=self.window)
            runs.append(max(float(seconds), 0.0))

    def estimate(self, features: Mapping[str, object]) -> Estimate | None:
        """The prediction from the most specific supported key, with its confidence."""
        for level, key in self._keys(features):
            runs = self._history.get((level, key))
            if runs is None or len(runs) < self.min_support:
                continue
            values = list(runs)
            weights = [self.decay ** (len(values) - 1 - i) for i in range(len(values))]
            median = weighted_quantile(values, weights, 0.5)
            hits = sum(w for v, w in zip(values, weights, strict=True)
                       if abs(median - v) <= WITHIN * v)
            confidence = hits / (sum(weights) + 1.0)  # shrunk: few runs, little trust
            prediction = RuntimePrediction(
                seconds=median,
                low_s=weighted_quantile(values, weights, 0.1),
                high_s=weighted_quantile(values, weights, 0.9),
                key="+".join(self.levels[level]),
                support=len(values),
            )
            return Estimate(prediction=prediction, confidence=confidence)
        return None

    def predict(self, features: Mapping[str, object]) -> RuntimePrediction | None:
        """The prediction, or ``None`` when no key has support or confidence is too low."""
        found = self.estimate(features)
        if found is None or found.confidence < self.min_confidence:
            return None
        return found.prediction
