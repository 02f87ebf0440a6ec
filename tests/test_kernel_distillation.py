"""Kernel self-distillation: the closed form equals refitting round by round, and its limits are the stated ones."""

import numpy as np
import pytest

from bannet import kernel_distillation as kd


@pytest.fixture(scope="module")
def problem():
    rng = np.random.default_rng(0)
    x = np.sort(rng.uniform(0, 1, 40))
    y = np.sin(2 * np.pi * x) + 0.3 * rng.standard_normal(40)
    return kd.rbf_kernel(x, x, 0.1), y, x


@pytest.mark.parametrize("alpha", [0.0, 0.3])
def test_closed_form_equals_refitting_every_round(problem, alpha):
    K, y, _ = problem
    iterative = kd.distilled_targets_iterative(K, y, 0.05, 30, alpha)
    assert iterative.shape == (31, 40) and np.array_equal(iterative[0], y)
    np.testing.assert_allclose(kd.distilled_targets_closed_form(K, y, 0.05, 30, alpha), iterative, atol=1e-10)


def test_the_ridge_operator_shrinks_each_eigen_direction_by_d_over_d_plus_c(problem):
    K, _, _ = problem
    d = np.clip(np.linalg.eigvalsh(K), 0, None)
    np.testing.assert_allclose(np.sort(np.linalg.eigvals(kd.ridge_operator(K, 0.05)).real), np.sort(d / (d + 0.05)),
                               atol=1e-10)


def test_mixing_in_the_labels_converges_to_the_fixed_point(problem):
    K, y, _ = problem
    star = kd.fixed_point(K, y, 0.05, 0.2)
    np.testing.assert_allclose(star, 0.2 * y + 0.8 * kd.ridge_operator(K, 0.05) @ star, atol=1e-10)
    np.testing.assert_allclose(kd.distilled_targets_iterative(K, y, 0.05, 400, 0.2)[-1], star, atol=1e-8)
    assert np.abs(kd.distilled_targets_iterative(K, y, 0.05, 400)[-1]).max() < 0.5 * np.abs(y).max()  # α = 0 decays


def test_rounds_first_help_then_hurt_and_the_basis_shrinks(problem):
    K, y, x = problem
    grid = np.linspace(0, 1, 500)
    errors = ((kd.predict(kd.rbf_kernel(grid, x, 0.1), K, kd.distilled_targets_closed_form(K, y, 0.05, 200), 0.05)
               - np.sin(2 * np.pi * grid)[:, None]) ** 2).mean(0)
    best = int(errors.argmin())
    assert 0 < best < 200 and errors[best] < 0.5 * errors[0] and errors[-1] > 2 * errors[0]
    basis = kd.effective_basis(K, 0.05, 200)
    assert basis[0] == 40 and np.all(np.diff(basis) <= 0) and basis[-1] < basis[1]
