"""Mean ± 95% confidence intervals over seeds with Student's t distribution."""

import functools
import math
from collections.abc import Sequence


def student_t_cdf(x: float, dof: int) -> float:
    """P(T ≤ x) for Student's t with `dof` degrees of freedom (Simpson integration of the density)."""
    if dof < 1:
        raise ValueError(f"degrees of freedom must be >= 1, got {dof}")
    if x < 0:
        return 1.0 - student_t_cdf(-x, dof)
    log_norm = math.lgamma((dof + 1) / 2) - math.lgamma(dof / 2) - 0.5 * math.log(dof * math.pi)

    def density(u: float) -> float:
        return math.exp(log_norm - (dof + 1) / 2 * math.log1p(u * u / dof))

    steps = 4000
    h = x / steps
    inner = sum((4 if k % 2 else 2) * density(k * h) for k in range(1, steps))
    return 0.5 + h / 3 * (density(0.0) + inner + density(x))


@functools.cache
def student_t_quantile(prob: float, dof: int) -> float:
    """The t value with P(T ≤ t) = prob, by bisection on the CDF."""
    if not 0.5 <= prob < 1:
        raise ValueError(f"prob must be in [0.5, 1), got {prob}")
    lo, hi = 0.0, 1.0
    while student_t_cdf(hi, dof) < prob:
        hi *= 2
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if student_t_cdf(mid, dof) < prob else (lo, mid)
    return (lo + hi) / 2


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
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    return mean, student_t_quantile((1 + confidence) / 2, n - 1) * sd / math.sqrt(n)
