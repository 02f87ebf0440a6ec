"""BAN+L "ban+l": label cross-entropy plus the BAN teacher loss."""

from torch import Tensor

from ._validation import check_weight, validate_inputs
from .base import TemperedDistillationLoss
from .ce import mean_cross_entropy
from .soft_target import soft_target_cross_entropy, teacher_probabilities


def _ban_l(student_logits: Tensor, teacher_logits: Tensor, labels: Tensor, T: float, label_weight: float,
           teacher_weight: float) -> Tensor:
    """The BAN+L loss on inputs and weights already checked."""
    return (label_weight * mean_cross_entropy(student_logits, labels)
            + teacher_weight * soft_target_cross_entropy(student_logits, teacher_probabilities(teacher_logits, T), T))


def ban_l_loss(
    student_logits: Tensor,
    teacher_logits: Tensor,
    labels: Tensor,
    T: float = 1.0,
    label_weight: float = 1.0,
    teacher_weight: float = 1.0,
) -> Tensor:
    """L = label_weight · (1/b) Σ_s CE(z_s, y_s) + teacher_weight · (-(T²/b) Σ_s Σ_i p_{i,s} log q_{i,s})."""
    check_weight("label_weight", label_weight)
    check_weight("teacher_weight", teacher_weight)
    validate_inputs(student_logits, teacher_logits, labels, T, needs_teacher=True, needs_labels=True)
    return _ban_l(student_logits, teacher_logits, labels, T, label_weight, teacher_weight)


class BANLLoss(TemperedDistillationLoss):
    """BAN+L: label_weight · CE(z, y) + teacher_weight · BAN teacher loss."""

    def __init__(self, T: float = 1.0, label_weight: float = 1.0, teacher_weight: float = 1.0) -> None:
        super().__init__(T)
        check_weight("label_weight", label_weight)
        check_weight("teacher_weight", teacher_weight)
        self.label_weight = label_weight
        self.teacher_weight = teacher_weight

    def forward(self, student_logits: Tensor, teacher_logits: Tensor, labels: Tensor) -> Tensor:
        """Return the weighted sum of the label and teacher losses of one batch."""
        validate_inputs(student_logits, teacher_logits, labels, self.T, needs_teacher=True, needs_labels=True)
        return _ban_l(student_logits, teacher_logits, labels, self.T, self.label_weight, self.teacher_weight)

    def extra_repr(self) -> str:
        """Show the temperature and both weights in the module's repr."""
        return f"{super().extra_repr()}, label_weight={self.label_weight}, teacher_weight={self.teacher_weight}"
