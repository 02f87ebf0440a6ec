"""BAN teacher loss "ban": cross-entropy of the student against the teacher's softened distribution."""

from torch import Tensor

from ._validation import validate_inputs
from .base import TemperedDistillationLoss
from .soft_target import soft_target_cross_entropy, teacher_probabilities


def ban_loss(student_logits: Tensor, teacher_logits: Tensor, T: float = 1.0) -> Tensor:
    """L = -(T²/b) Σ_s Σ_i p_{i,s} log q_{i,s}, p = softmax(t/T), q = softmax(z/T); ∂L/∂z = T (q - p) / b."""
    validate_inputs(student_logits, teacher_logits, temperature=T, needs_teacher=True)
    return soft_target_cross_entropy(student_logits, teacher_probabilities(teacher_logits, T), T)


class BANLoss(TemperedDistillationLoss):
    """BAN teacher loss L = -(T²/b) Σ p log q; the labels are ignored."""

    def forward(self, student_logits: Tensor, teacher_logits: Tensor, labels: Tensor) -> Tensor:
        """Return the BAN teacher loss of one batch."""
        return ban_loss(student_logits, teacher_logits, self.T)
