"""Mean ± 95% confidence intervals over seeds, paired t tests and Holm's correction; scipy does the t distribution."""

import math
from collections.abc import Sequence

import numpy as np
from scipy import stats


def mean_ci(values: Sequence[float], confidence: float = 0.95) -> tuple[float, float]:
    """(mean, half-width) of the two-sided Student-t interval: x̄ ± t_{(1+c)/2, n−1} · s/√n; half-width NaN for n = 1."""
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    n = len(values)
    if n == 0:
        raise ValueError("mean_ci needs at least one value")
    mean = sum(values) / n
    if n == 1:
        return mean, math.nan
    sd = float(np.std(values, ddof=1))
    return mean, float(stats.t.ppf((1 + confidence) / 2, n - 1)) * sd / math.sqrt(n)


def t_test_p_value(values: Sequence[float]) -> float:
    """Two-sided p of the one-sample t test of mean 0: 2 · (1 − F_t(|x̄| / (s/√n), n − 1)); NaN for n < 2; 0 (or 1
    for zeros) when every value is the same (s = 0)."""
    n = len(values)
    if n < 2:
        return math.nan
    mean = sum(values) / n
    sd = float(np.std(values, ddof=1))
    if sd <= 1e-12 * max(abs(v) for v in values):  # equal values up to rounding: no spread to test against
        return 1.0 if mean == 0 else 0.0
    return float(2.0 * stats.t.sf(abs(mean) / (sd / math.sqrt(n)), n - 1))


def holm_rejections(p_values: Sequence[float], alpha: float = 0.05) -> list[bool]:
    """Holm's step-down rule: sort the m p-values, reject p_(i) while p_(i) ≤ α / (m − i + 1), stop at the first
    that is not (a NaN p is never rejected); the family-wise error rate stays ≤ α under any dependence between the
    tests."""
    order = sorted(range(len(p_values)), key=lambda i: math.inf if math.isnan(p_values[i]) else p_values[i])
    rejected = [False] * len(p_values)
    for rank, i in enumerate(order):
        if not p_values[i] <= alpha / (len(p_values) - rank):
            break
        rejected[i] = True
    return rejected
