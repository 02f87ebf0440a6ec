"""Uniform label smoothing "ls": labels with mass m spread evenly over the wrong classes, no teacher at all.

The control for dark knowledge with every class relation removed: a student that sees as much wrong-class
mass as its teacher gives on average (m = the teacher's mean non-top probability on the training set) but
none of its structure (Tang et al. 2020 split KD's gain into label smoothing, example reweighting and class
relations). Unlike torch's `label_smoothing=ε`, which also puts ε/n on the true class, the wrong classes
here hold exactly m, so m compares directly with the teacher's non-top mass.
"""

import math
from numbers import Real

import torch
from torch import Tensor

from ._validation import validate_inputs
from .base import DistillationLoss
from .soft_target import soft_target_cross_entropy


def smoothed_targets(labels: Tensor, classes: int, mass: float, dtype: torch.dtype = torch.float32) -> Tensor:
    """p_{i,s} = 1 − m for i = y_s, m / (n − 1) otherwise (n classes)."""
    targets = torch.full((labels.shape[0], classes), mass / (classes - 1), dtype=dtype, device=labels.device)
    return targets.scatter_(1, labels.unsqueeze(1), 1.0 - mass)


def label_smoothing_loss(student_logits: Tensor, labels: Tensor, mass: float) -> Tensor:
    """L = -(1/b) Σ_s Σ_i p_{i,s} log q_{i,s} with p = smoothed_targets(y, n, m); ∂L/∂z = (q − p) / b."""
    validate_inputs(student_logits, labels=labels, needs_labels=True)
    return soft_target_cross_entropy(student_logits, smoothed_targets(labels, student_logits.shape[1], mass,
                                                                      student_logits.dtype))


class LabelSmoothingLoss(DistillationLoss):
    """Uniform label smoothing with wrong-class mass m in [0, 1); the teacher's logits are ignored."""

    needs_teacher = False

    def __init__(self, mass: float) -> None:
        super().__init__()
        if isinstance(mass, bool) or not isinstance(mass, Real) or not math.isfinite(mass) or not 0 <= mass < 1:
            raise ValueError(f"the smoothing mass m must be a number in [0, 1), got {mass!r}")
        self.mass = float(mass)

    def forward(self, student_logits: Tensor, teacher_logits: Tensor | None, labels: Tensor) -> Tensor:
        """Return the label-smoothing loss of one batch."""
        return label_smoothing_loss(student_logits, labels, self.mass)

    def extra_repr(self) -> str:
        """Show the smoothing mass in the module's repr."""
        return f"mass={self.mass}"
