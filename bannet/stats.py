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
    if x > 50:  # far tail: P(T > x) = ∫_0^{1/x} f(1/v) / v² dv, whose integrand is smooth on that short interval
        h = 1 / x / steps
        at_zero = math.exp(log_norm) if dof == 1 else 0.0  # the limit of f(1/v) / v² as v -> 0
        tail = lambda v: density(1 / v) / (v * v) if v > 0 else at_zero
        inner = sum((4 if k % 2 else 2) * tail(k * h) for k in range(1, steps))
        return 1.0 - h / 3 * (tail(0.0) + inner + tail(1 / x))
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


def t_test_p_value(values: Sequence[float]) -> float:
    """Two-sided p of the one-sample t test of mean 0: 2 · (1 − F_t(|x̄| / (s/√n), n − 1)); NaN for n < 2; 0 (or 1
    for zeros) when every value is the same (s = 0)."""
    n = len(values)
    if n < 2:
        return math.nan
    mean = sum(values) / n
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    if sd <= 1e-12 * max(abs(v) for v in values):  # equal values up to rounding: no spread to test against
        return 1.0 if mean == 0 else 0.0
    return 2.0 * (1.0 - student_t_cdf(abs(mean) / (sd / math.sqrt(n)), n - 1))


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
