"""Confidence-Weighted by Teacher Max "cwtm": label cross-entropy weighted by the teacher's confidence."""

from collections.abc import Callable

from torch import Tensor

from ._validation import check_logit_matrix, check_temperature, validate_inputs
from .base import TemperedDistillationLoss
from .ce import weighted_cross_entropy
from .soft_target import teacher_probabilities


def teacher_confidence(teacher_logits: Tensor, T: float = 1.0) -> Tensor:
    """c_s = max_i p_{i,s} with p = softmax(t/T), detached; Σ_s c_s is the CWTM normaliser."""
    return teacher_probabilities(teacher_logits, T).amax(dim=1)


def _weights(teacher_logits: Tensor, T: float, normaliser: Tensor | None) -> Tensor:
    """w_s = c_s / normaliser (default Σ_s c_s), on inputs already checked."""
    confidence = teacher_confidence(teacher_logits, T)
    if normaliser is None:
        return confidence / confidence.sum()
    if not isinstance(normaliser, Tensor) or normaliser.numel() != 1:
        raise ValueError(f"normaliser must be a one-element Tensor or None, got {normaliser!r}")
    return confidence / normaliser.detach().reshape(())


def cwtm_weights(teacher_logits: Tensor, T: float = 1.0, normaliser: Tensor | None = None) -> Tensor:
    """w_s = max_i p_{i,s} / Σ_u max_i p_{i,u}; `normaliser` replaces the local Σ_u (e.g. all-reduced)."""
    check_logit_matrix("teacher_logits", teacher_logits)
    check_temperature(T)
    return _weights(teacher_logits, T, normaliser)


def cwtm_loss(
    student_logits: Tensor, teacher_logits: Tensor, labels: Tensor, T: float = 1.0, normaliser: Tensor | None = None
) -> Tensor:
    """L = Σ_s w_s CE(z_s, y_s), w = cwtm_weights(t, T) (Σ_s w_s = 1, no extra 1/b); ∂L/∂z_s = w_s (q_s - onehot)."""
    validate_inputs(student_logits, teacher_logits, labels, T, needs_teacher=True, needs_labels=True)
    return weighted_cross_entropy(student_logits, labels, _weights(teacher_logits, T, normaliser))


class CWTMLoss(TemperedDistillationLoss):
    """CWTM: L = Σ_s w_s CE(z_s, y_s), w_s = max_i p_{i,s} / Σ_u max_i p_{i,u}, Σ_u over the global batch.

    Data-parallel over W shards, give shards=W and sum_over_shards (a sum of a scalar over the shards, e.g. an
    all-reduce): Σ_u then runs over every shard, and each shard returns W · Σ_{s in shard} w_s CE_s, so the mean
    over shards (DDP's gradient average) is the loss of the concatenated batch. Alone, the batch is the global batch.
    """

    def __init__(self, T: float = 1.0, shards: int = 1,
                 sum_over_shards: Callable[[Tensor], Tensor] | None = None) -> None:
        super().__init__(T)
        if shards < 1 or (shards > 1) != (sum_over_shards is not None):
            raise ValueError(f"give sum_over_shards exactly when shards > 1 (got shards={shards}, "
                             f"sum_over_shards={sum_over_shards!r})")
        self.shards, self.sum_over_shards = shards, sum_over_shards

    def forward(self, student_logits: Tensor, teacher_logits: Tensor, labels: Tensor) -> Tensor:
        """Return the teacher-confidence-weighted label cross-entropy of one batch (this shard's share under DDP)."""
        if self.sum_over_shards is None:
            return cwtm_loss(student_logits, teacher_logits, labels, self.T)
        normaliser = self.sum_over_shards(teacher_confidence(teacher_logits, self.T).sum())
        return self.shards * cwtm_loss(student_logits, teacher_logits, labels, self.T, normaliser)

    def extra_repr(self) -> str:
        """Show the temperature and the number of shards."""
        return f"{super().extra_repr()}, shards={self.shards}"
