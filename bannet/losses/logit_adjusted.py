"""Logit-adjusted label cross-entropy "logit-adjusted" (Menon et al. 2021, "Long-tail learning via logit adjustment").

For a training set whose classes are imbalanced: the loss adds τ·log π (π the class priors of the training labels)
to the logits before the softmax, so a rare class must win by a margin that grows as its prior shrinks. The
adjustment lives in the loss only: a trained model predicts argmax_i z_i of its raw logits, which then estimates the
class that is most likely under balanced priors (the balanced error is what the loss is consistent for). τ = 0 is
plain cross-entropy; τ = 1 is the paper's default.
"""

from collections.abc import Sequence

import torch
from torch import Tensor

from ._validation import check_weight, validate_inputs
from .base import DistillationLoss
from .ce import mean_cross_entropy

PRIORS_SUM_TOLERANCE = 1e-6


def class_priors(labels: Tensor, classes: int) -> Tensor:
    """π_c = n_c / N (float64): the share of the N labels that are class c, for c in [0, classes)."""
    counts = torch.bincount(labels.reshape(-1).cpu(), minlength=classes).double()
    return counts / counts.sum()


def check_priors(priors: Tensor) -> None:
    """Raise ValueError unless the priors are a 1-D vector of finite values > 0 that sum to 1."""
    if priors.ndim != 1 or priors.numel() == 0:
        raise ValueError(f"priors must be a non-empty 1-D vector, got shape {tuple(priors.shape)}")
    if not torch.isfinite(priors).all() or (priors <= 0).any():
        raise ValueError(f"priors must all be finite and > 0 (log π must exist), got {priors.tolist()}")
    if abs(priors.sum().item() - 1.0) > PRIORS_SUM_TOLERANCE:
        raise ValueError(f"priors must sum to 1, got {priors.sum().item():.8g}")


def _adjustment(student_logits: Tensor, log_priors: Tensor, tau: float) -> Tensor:
    """τ·log π in the logits' dtype and device, after checking that π has one entry per class."""
    if log_priors.numel() != student_logits.shape[1]:
        raise ValueError(f"class-count mismatch: student_logits have {student_logits.shape[1]} classes, "
                         f"the priors have {log_priors.numel()}")
    return (tau * log_priors).to(device=student_logits.device, dtype=student_logits.dtype)


def logit_adjusted_loss(student_logits: Tensor, labels: Tensor, log_priors: Tensor, tau: float = 1.0) -> Tensor:
    """L = -(1/b) Σ_s log softmax(z_s + τ log π)_{y_s}; ∂L/∂z = (softmax(z + τ log π) − onehot(y)) / b."""
    validate_inputs(student_logits, labels=labels, needs_labels=True)
    return mean_cross_entropy(student_logits + _adjustment(student_logits, log_priors, tau), labels)


class LogitAdjustedLoss(DistillationLoss):
    """Logit-adjusted cross-entropy with class priors π (one per class, > 0, sum 1) and strength τ >= 0; the teacher
    is ignored and may be None."""

    needs_teacher = False

    def __init__(self, priors: Sequence[float] | Tensor, tau: float = 1.0) -> None:
        super().__init__()
        check_weight("tau", tau)
        priors = torch.as_tensor(priors, dtype=torch.float64)
        check_priors(priors)
        self.tau = float(tau)
        self.register_buffer("log_priors", priors.log(), persistent=False)  # built from the arguments, never saved

    def forward(self, student_logits: Tensor, teacher_logits: Tensor | None, labels: Tensor) -> Tensor:
        """Return the batch-mean logit-adjusted cross-entropy."""
        return logit_adjusted_loss(student_logits, labels, self.log_priors, self.tau)

    def extra_repr(self) -> str:
        """Show τ and the number of classes in the module's repr."""
        return f"tau={self.tau}, classes={self.log_priors.numel()}"
