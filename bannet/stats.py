"""Mean ± 95% confidence intervals over seeds, paired t tests, Holm's correction and the power of a paired test; scipy
does the t distributions."""

import math
from collections.abc import Sequence

import numpy as np
from scipy import optimize, stats

# Test errors are counts over a test set, so equal paired differences can differ by float rounding alone: a standard
# deviation at or below this is no measured spread, and sizes no test.
NO_SPREAD = 1e-9


def sample_sd(values: Sequence[float]) -> float:
    """s = √(Σ (x − x̄)² / (n − 1)), the sample standard deviation over seeds."""
    return float(np.std(values, ddof=1))


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
    sd = sample_sd(values)
    return mean, float(stats.t.ppf((1 + confidence) / 2, n - 1)) * sd / math.sqrt(n)


def t_test_p_value(values: Sequence[float]) -> float:
    """Two-sided p of the one-sample t test of mean 0: 2 · (1 − F_t(|x̄| / (s/√n), n − 1)); NaN for n < 2; 0 (or 1
    for zeros) when every value is the same (s = 0)."""
    n = len(values)
    if n < 2:
        return math.nan
    mean = sum(values) / n
    sd = sample_sd(values)
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


def detectable_difference(sd: float, n: int, alpha: float = 0.05, power: float = 0.8) -> float:
    """The smallest true mean paired difference that a two-sided paired t test at level α detects with the given power
    over n pairs whose differences have standard deviation sd: δ = sd · d/√n, where d solves
    P(|T'| > t_{1−α/2, n−1}) = power for T' noncentral t with n − 1 degrees of freedom and noncentrality d.
    Under Holm's correction over m tests, the first test is at α / m: pass that α for the family's hardest case."""
    if n < 2 or not sd >= 0 or not 0 < alpha < 1 or not 0 < power < 1:
        raise ValueError(f"need n >= 2, sd >= 0, 0 < alpha < 1, 0 < power < 1; got n={n}, sd={sd}, alpha={alpha}, "
                         f"power={power}")
    critical = stats.t.ppf(1 - alpha / 2, n - 1)

    def shortfall(noncentrality: float) -> float:
        wrong_side = stats.nct.cdf(-critical, n - 1, noncentrality)  # NaN far out, where it is 0
        return stats.nct.sf(critical, n - 1, noncentrality) + (0.0 if math.isnan(wrong_side) else wrong_side) - power

    high = 1.0
    while shortfall(high) < 0:
        high *= 2
    return sd * optimize.brentq(shortfall, 0.0, high) / math.sqrt(n)


def seeds_needed(sd: float, difference: float, alpha: float = 0.05, power: float = 0.8) -> int:
    """The fewest pairs n ≥ 2 whose paired t test at level α detects a true mean difference `difference` with the given
    power when the differences have standard deviation sd: the least n with detectable_difference(sd, n) ≤ |difference|
    (found by doubling, then bisection, since that difference falls as n grows)."""
    if not abs(difference) > 0:
        raise ValueError(f"need a nonzero difference to detect, got {difference}")
    target = abs(difference)
    low, high = 1, 2
    while detectable_difference(sd, high, alpha, power) > target:
        low, high = high, high * 2
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if detectable_difference(sd, middle, alpha, power) > target else (low, middle)
    return high
