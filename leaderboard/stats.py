"""Per-cell confidence intervals from per-sample scores.

Two methods, chosen per cell by the shape of its scores:

* **Wilson score interval** for accuracies (every per-sample score is 0 or 1):
  the standard interval for a binomial proportion, well behaved at 0 % and
  100 % and for small ``n`` (where the normal approximation is not).
* **Percentile bootstrap** for ROUGE and BLEU (scores anywhere in [0, 1]):
  :data:`BOOTSTRAP_RESAMPLES` resamples of the questions with replacement,
  seeded with :data:`BOOTSTRAP_SEED` so that the same samples always give the
  same interval.

Both treat questions as independent draws, which ignores that several
questions are asked about the same person; the intervals are therefore
somewhat too narrow, and are shown as an indication of noise, not a test.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

BOOTSTRAP_RESAMPLES = 2000
"""Number of bootstrap resamples per cell."""

BOOTSTRAP_SEED = 0
"""Seed of the bootstrap's random generator (intervals are deterministic)."""


class Interval(NamedTuple):
    """A confidence interval on the 0-1 scale of the per-sample scores."""

    low: float
    high: float
    method: str
    """``wilson`` or ``bootstrap``."""


def _z(level: float) -> float:
    """Two-sided standard-normal quantile for ``level`` (0.95 -> 1.959964)."""
    from statistics import NormalDist

    return NormalDist().inv_cdf(0.5 + level / 2)


def wilson_interval(successes: int, n: int, *, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for ``successes`` out of ``n`` (``n`` > 0), on the 0-1 scale."""
    if n <= 0:
        raise ValueError("n must be positive")
    z = _z(level)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def bootstrap_interval(
    values: Sequence[float], *, level: float = 0.95, resamples: int = BOOTSTRAP_RESAMPLES, seed: int = BOOTSTRAP_SEED
) -> tuple[float, float]:
    """Percentile-bootstrap interval of the mean of ``values`` (non-empty)."""
    import numpy as np

    data = np.asarray(values, dtype=float)
    if data.size == 0:
        raise ValueError("values must not be empty")
    rng = np.random.default_rng(seed)
    means = data[rng.integers(0, data.size, size=(resamples, data.size))].mean(axis=1)
    alpha = (1 - level) / 2
    low, high = np.quantile(means, [alpha, 1 - alpha])
    return float(low), float(high)


def mean_interval(values: Sequence[float], *, level: float = 0.95) -> Interval:
    """The interval for the mean of per-sample scores: Wilson when all are 0/1, else bootstrap."""
    if all(v in (0.0, 1.0) for v in values):
        low, high = wilson_interval(int(sum(values)), len(values), level=level)
        return Interval(low, high, "wilson")
    low, high = bootstrap_interval(values, level=level)
    return Interval(low, high, "bootstrap")
