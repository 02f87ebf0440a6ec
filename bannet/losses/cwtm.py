"""Confidence-Weighted by Teacher Max "cwtm": label cross-entropy weighted by the teacher's confidence."""

from torch import Tensor

from bannet import distributed

from ._validation import check_logit_matrix, check_temperature, validate_inputs
from .base import TemperedDistillationLoss
from .ce import weighted_cross_entropy
from .soft_target import teacher_probabilities


def teacher_confidence(teacher_logits: Tensor, T: float = 1.0) -> Tensor:
    """c_s = max_i p_{i,s} with p = softmax(t/T), detached; Σ_s c_s is the CWTM normaliser."""
    return teacher_probabilities(teacher_logits, T).amax(dim=1)


def cwtm_weights(teacher_logits: Tensor, T: float = 1.0, normaliser: Tensor | None = None) -> Tensor:
    """w_s = max_i p_{i,s} / Σ_u max_i p_{i,u}; `normaliser` replaces the local Σ_u (e.g. all-reduced)."""
    check_logit_matrix("teacher_logits", teacher_logits)
    check_temperature(T)
    confidence = teacher_confidence(teacher_logits, T)
    if normaliser is None:
        return confidence / confidence.sum()
    if not isinstance(normaliser, Tensor) or normaliser.numel() != 1:
        raise ValueError(f"normaliser must be a one-element Tensor or None, got {normaliser!r}")
    return confidence / normaliser.detach().reshape(())


def cwtm_loss(
    student_logits: Tensor, teacher_logits: Tensor, labels: Tensor, T: float = 1.0, normaliser: Tensor | None = None
) -> Tensor:
    """L = Σ_s w_s CE(z_s, y_s) with w = cwtm_weights(t, T) (Σ_s w_s = 1, no extra 1/b); ∂L/∂z_s = w_s (q_s - onehot)."""
    validate_inputs(student_logits, teacher_logits, labels, T, needs_teacher=True, needs_labels=True)
    return weighted_cross_entropy(student_logits, labels, cwtm_weights(teacher_logits, T, normaliser))


class CWTMLoss(TemperedDistillationLoss):
    """CWTM: L = Σ_s w_s CE(z_s, y_s), w_s = max_i p_{i,s} / Σ_u max_i p_{i,u}, Σ_u over the global batch.

    Inside a process group of W ranks (DDP) with `global_batch=True`, Σ_u is all-reduced over every
    rank's shard and the rank returns W · Σ_{s in shard} w_s CE_s: the mean over ranks is the loss of
    the concatenated batch, so DDP's gradient average is its gradient. Alone, the local batch is the
    global batch.
    """

    def __init__(self, T: float = 1.0, global_batch: bool = True) -> None:
        super().__init__(T)
        self.global_batch = global_batch

    def forward(self, student_logits: Tensor, teacher_logits: Tensor, labels: Tensor) -> Tensor:
        """Return the teacher-confidence-weighted label cross-entropy of one batch (this rank's share under DDP)."""
        world = distributed.world_size() if self.global_batch else 1
        if world == 1:
            return cwtm_loss(student_logits, teacher_logits, labels, self.T)
        check_logit_matrix("teacher_logits", teacher_logits)
        normaliser = distributed.all_reduce_sum(teacher_confidence(teacher_logits, self.T).sum())
        return world * cwtm_loss(student_logits, teacher_logits, labels, self.T, normaliser)

    def extra_repr(self) -> str:
        """Show the temperature and the normalisation scope."""
        return f"{super().extra_repr()}, global_batch={self.global_batch}"
