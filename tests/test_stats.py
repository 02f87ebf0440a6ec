"""Confidence intervals and t tests against published table values and closed forms."""

import math

import numpy as np
import pytest
from scipy import stats

from bannet.stats import detectable_difference, holm_rejections, mean_ci, seeds_needed, t_test_p_value


@pytest.mark.parametrize("dof, expected", [(1, 12.7062), (2, 4.3027), (4, 2.7764), (9, 2.2622), (30, 2.0423)])
def test_the_interval_uses_the_tabled_t_quantile(dof, expected):
    values = [0.0, 1.0] + [0.5] * (dof - 1)  # n = dof + 1 values whose s/√n is known
    n, mean = dof + 1, 0.5
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    assert mean_ci(values)[1] == pytest.approx(expected * sd / math.sqrt(n), abs=1e-4 * sd / math.sqrt(n))


def test_mean_ci_by_hand():
    mean, half = mean_ci([1.0, 2.0, 3.0, 4.0, 5.0])
    assert mean == 3.0
    assert half == pytest.approx(2.7764451 * math.sqrt(2.5) / math.sqrt(5), rel=1e-6)


def test_single_value_has_no_interval_and_empty_is_an_error():
    assert math.isnan(mean_ci([7.0])[1])
    with pytest.raises(ValueError, match="at least one"):
        mean_ci([])


def _closed_form_p(values: list[float]) -> float:
    """Two-sided p of the one-sample t test for 3 or 5 values from the t distribution's closed-form tails:
    df = 2: t / √(t² + 2) is the central mass; df = 4: p = I_x(2, 1/2) = 1 − √(1 − x)(1 + x/2), x = 4 / (4 + t²)."""
    n = len(values)
    mean = sum(values) / n
    t = abs(mean) / (math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) / math.sqrt(n))
    if n == 3:
        return 1 - t / math.sqrt(t * t + 2)
    x = 4 / (4 + t * t)
    return 1 - math.sqrt(1 - x) * (1 + x / 2)


@pytest.mark.parametrize("values", [[1, 2, 3, 4, 5], [0.3, -0.1, 0.5], [-0.4, -0.9, 0.1, -0.2, -0.6]])
def test_t_test_p_value_matches_closed_forms(values):
    assert t_test_p_value(values) == pytest.approx(_closed_form_p(values), rel=1e-9)


def test_t_test_p_value_edge_cases():
    assert math.isnan(t_test_p_value([0.5]))
    assert t_test_p_value([0.2, 0.2, 0.2]) == 0.0 and t_test_p_value([0.0, 0.0]) == 1.0
    assert t_test_p_value([1.0, 1.0 + 1e-9]) < 1e-6  # a real, tiny spread is tested


def test_holm_steps_down_and_stops_at_the_first_kept_hypothesis():
    assert holm_rejections([0.01, 0.04, 0.03, 0.005]) == [True, False, False, True]
    assert holm_rejections([0.012, 0.02, 0.04]) == [True, True, True]  # Bonferroni would keep the last two
    assert holm_rejections([0.3, math.nan, 0.001]) == [False, False, True]
    assert holm_rejections([]) == []


def test_the_detectable_difference_has_the_power_it_claims():
    delta = detectable_difference(sd=1.0, n=20)
    assert delta == pytest.approx(0.6604, abs=0.002)  # Cohen's tables (dz for a paired t test, n = 20)
    rng = np.random.default_rng(0)
    differences = rng.normal(delta, 1.0, size=(20_000, 20))
    rejected = stats.ttest_1samp(differences, 0.0, axis=1).pvalue <= 0.05
    assert rejected.mean() == pytest.approx(0.8, abs=0.01)  # simulated, with scipy's own t test


def test_the_detectable_difference_scales_with_the_spread_and_tends_to_the_normal_bound():
    assert detectable_difference(0.25, 20) == pytest.approx(0.25 * detectable_difference(1.0, 20))
    z = stats.norm.ppf(0.975) + stats.norm.ppf(0.8)
    assert detectable_difference(1.0, 2000) == pytest.approx(z / math.sqrt(2000), rel=1e-3)
    assert detectable_difference(1.0, 20, alpha=0.05 / 8) > detectable_difference(1.0, 20)  # Holm's first step
    with pytest.raises(ValueError, match="need n >= 2"):
        detectable_difference(1.0, 1)


def test_the_seeds_needed_are_the_fewest_that_detect_the_difference():
    n = seeds_needed(sd=0.25, difference=0.05)
    assert detectable_difference(0.25, n) <= 0.05 < detectable_difference(0.25, n - 1)
    z = stats.norm.ppf(0.975) + stats.norm.ppf(0.8)
    assert n == pytest.approx((z * 0.25 / 0.05) ** 2, rel=0.05)  # the normal approximation, for many pairs
    assert seeds_needed(1.0, 12.0) == 2 and seeds_needed(1.0, 11.0) == 3  # two pairs detect 11.55 sd
    assert seeds_needed(1.0, -0.661) == seeds_needed(1.0, 0.661) == 20  # Cohen: d = 0.66 at n = 20
    with pytest.raises(ValueError, match="nonzero difference"):
        seeds_needed(1.0, 0.0)
