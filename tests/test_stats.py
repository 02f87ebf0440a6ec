"""Student-t quantiles and confidence intervals against published table values."""

import math

import pytest

from bannet.stats import mean_ci, student_t_cdf, student_t_quantile


@pytest.mark.parametrize("dof, expected", [(1, 12.7062), (2, 4.3027), (4, 2.7764), (9, 2.2622), (30, 2.0423)])
def test_t_quantile_matches_tables(dof, expected):
    assert student_t_quantile(0.975, dof) == pytest.approx(expected, abs=1e-4)


def test_cdf_is_symmetric_and_centred():
    assert student_t_cdf(0.0, 5) == pytest.approx(0.5)
    assert student_t_cdf(-1.3, 5) == pytest.approx(1 - student_t_cdf(1.3, 5))


def test_mean_ci_by_hand():
    mean, half = mean_ci([1.0, 2.0, 3.0, 4.0, 5.0])
    assert mean == 3.0
    assert half == pytest.approx(2.7764451 * math.sqrt(2.5) / math.sqrt(5), rel=1e-6)


def test_single_value_has_no_interval_and_empty_is_an_error():
    assert math.isnan(mean_ci([7.0])[1])
    with pytest.raises(ValueError, match="at least one"):
        mean_ci([])
