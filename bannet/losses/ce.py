"""Label cross-entropy: per-sample weighted core (shared with CWTM) and the plain batch-mean loss "ce"."""

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.autograd import Function
from torch.autograd.function import once_differentiable

from ._validation import validate_inputs
from .base import DistillationLoss


class WeightedCrossEntropy(Function):
    """L = Σ_s w_s CE(z_s, y_s), CE = -log softmax(z_s)_{y_s}; backward ∂L/∂z_s = w_s (q_s - onehot(y_s))."""

    @staticmethod
    def forward(ctx, student_logits: Tensor, labels: Tensor, weights: Tensor) -> Tensor:
        """Compute the weighted sum in the student's dtype and save log q, y and w for the backward pass."""
        log_q = F.log_softmax(student_logits, dim=1)
        weights = weights.detach().to(log_q.dtype)
        ctx.save_for_backward(log_q, labels, weights)
        return -(weights * log_q.gather(1, labels.unsqueeze(1)).squeeze(1)).sum()

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_output: Tensor) -> tuple[Tensor, None, None]:
        """Return grad_output · w_s (q_s - onehot(y_s)) for the student logits; no gradient for y or w."""
        log_q, labels, weights = ctx.saved_tensors
        residual = log_q.exp()
        residual.scatter_add_(1, labels.unsqueeze(1), torch.full_like(log_q[:, :1], -1.0))  # q - onehot(y), in place
        return residual.mul_(weights.unsqueeze(1)).mul_(grad_output), None, None


def weighted_cross_entropy(student_logits: Tensor, labels: Tensor, weights: Tensor) -> Tensor:
    """L = Σ_s w_s CE(z_s, y_s) for given per-sample weights w (no input checks)."""
    return WeightedCrossEntropy.apply(student_logits, labels, weights)


def mean_cross_entropy(student_logits: Tensor, labels: Tensor) -> Tensor:
    """L = (1/b) Σ_s CE(z_s, y_s): weighted_cross_entropy with uniform weights 1/b (no input checks)."""
    batch = student_logits.shape[0]
    uniform = torch.full((batch,), 1.0 / batch, dtype=student_logits.dtype, device=student_logits.device)
    return weighted_cross_entropy(student_logits, labels, uniform)


def ce_loss(student_logits: Tensor, labels: Tensor) -> Tensor:
    """L = (1/b) Σ_s CE(z_s, y_s), the plain label loss; ∂L/∂z = (q - onehot(y)) / b."""
    validate_inputs(student_logits, labels=labels, needs_labels=True)
    return mean_cross_entropy(student_logits, labels)


class CELoss(DistillationLoss):
    """Label cross-entropy L = (1/b) Σ_s CE(z_s, y_s); the teacher is ignored and may be None."""

    needs_teacher = False

    def forward(self, student_logits: Tensor, teacher_logits: Tensor | None, labels: Tensor) -> Tensor:
        """Return the batch-mean label cross-entropy."""
        return ce_loss(student_logits, labels)
