"""Self-distillation where everything is closed form: kernel ridge regression taught by itself, round after round.

Mobahi, Farajtabar & Bartlett (2020) show that each round multiplies the targets by the ridge operator
A = K (K + cI)^{-1}, so round t fits A^t y: in K's eigenbasis the j-th component shrinks by (d_j / (d_j + c))^t,
fastest where the eigenvalue d_j is small, and the fit keeps fewer and fewer basis functions. Borup & Andersen
(2021) mix the labels back in with weight α, y_{t+1} = α y + (1 - α) A y_t, which converges to
α (I - (1 - α) A)^{-1} y instead of to zero. Here c is held fixed across rounds (Mobahi et al. re-tune it per
round to a fixed training loss; the shrinkage by powers of A is the same mechanism).
"""

import numpy as np


def rbf_kernel(x: np.ndarray, z: np.ndarray, lengthscale: float) -> np.ndarray:
    """k(x, z) = exp(-(x - z)² / (2 ℓ²)) for 1-D inputs, as the matrix [k(x_i, z_j)]."""
    return np.exp(-((x[:, None] - z[None, :]) ** 2) / (2 * lengthscale**2))


def ridge_operator(K: np.ndarray, c: float) -> np.ndarray:
    """A = K (K + cI)^{-1}: the map from training targets to the ridge fit's values on the training inputs."""
    return np.linalg.solve(K + c * np.eye(len(K)), K).T  # K symmetric: (K + cI)^{-1} K = (K (K + cI)^{-1})^T


def distilled_targets_iterative(K: np.ndarray, y: np.ndarray, c: float, rounds: int, alpha: float = 0.0) -> np.ndarray:
    """Targets of rounds 0..rounds by refitting: y_{t+1} = α y + (1 - α) · (ridge fit to y_t at the training inputs)."""
    targets = [y]
    for _ in range(rounds):
        fit = K @ np.linalg.solve(K + c * np.eye(len(K)), targets[-1])
        targets.append(alpha * y + (1 - alpha) * fit)
    return np.stack(targets)


def distilled_targets_closed_form(K: np.ndarray, y: np.ndarray, c: float, rounds: int,
                                  alpha: float = 0.0) -> np.ndarray:
    """The same targets from K = V diag(d) Vᵀ: component j of round t is s_j(t) (Vᵀy)_j with a_j = d_j / (d_j + c) and
    s_j(t) = a_j^t for α = 0, else α Σ_{i<t} ((1-α) a_j)^i + ((1-α) a_j)^t (a geometric sum)."""
    d, V = np.linalg.eigh(K)
    a = np.clip(d, 0, None) / (np.clip(d, 0, None) + c)
    r = (1 - alpha) * a
    t = np.arange(rounds + 1)[:, None]
    geometric = np.where(np.isclose(r, 1.0), t, (1 - r**t) / np.where(np.isclose(r, 1.0), 1.0, 1 - r))
    scale = r**t + alpha * geometric
    return (scale * (V.T @ y)) @ V.T


def fixed_point(K: np.ndarray, y: np.ndarray, c: float, alpha: float) -> np.ndarray:
    """The targets rounds converge to when labels are mixed in (α > 0): α (I - (1 - α) A)^{-1} y."""
    return alpha * np.linalg.solve(np.eye(len(K)) - (1 - alpha) * ridge_operator(K, c), y)


def predict(K_test_train: np.ndarray, K: np.ndarray, targets: np.ndarray, c: float) -> np.ndarray:
    """The ridge fit to each row of `targets`, at the test inputs: k(x*, X) (K + cI)^{-1} y_t."""
    return K_test_train @ np.linalg.solve(K + c * np.eye(len(K)), targets.T)


def effective_basis(K: np.ndarray, c: float, rounds: int, keep: float = 0.5) -> np.ndarray:
    """How many of K's eigen-directions keep at least `keep` of their weight after each round: #{j : a_j^t ≥ keep}."""
    d = np.clip(np.linalg.eigvalsh(K), 0, None)
    a = d / (d + c)
    return np.array([(a**t >= keep).sum() for t in range(rounds + 1)])
