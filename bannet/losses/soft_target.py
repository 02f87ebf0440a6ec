"""Soft-target cross-entropy at temperature T, the shared core of the BAN and DKPP losses."""

import torch.nn.functional as F
from torch import Tensor
from torch.autograd import Function
from torch.autograd.function import once_differentiable


def teacher_probabilities(teacher_logits: Tensor, T: float = 1.0) -> Tensor:
    """p = softmax(t / T) over classes, detached so the teacher never receives gradient."""
    return F.softmax(teacher_logits.detach() / T, dim=1)


class SoftTargetCrossEntropy(Function):
    """L = -(T²/b) Σ_s Σ_i p_{i,s} log q_{i,s}, q = softmax(z/T); backward ∂L/∂z = T (q - p) / b."""

    @staticmethod
    def forward(ctx, student_logits: Tensor, target_probs: Tensor, T: float) -> Tensor:
        """Compute the loss in the student's dtype and save log q and p for the backward pass."""
        log_q = F.log_softmax(student_logits / T, dim=1)
        target_probs = target_probs.to(log_q.dtype)
        ctx.save_for_backward(log_q, target_probs)
        ctx.T = T
        return -(T * T / student_logits.shape[0]) * (target_probs * log_q).sum()

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_output: Tensor) -> tuple[Tensor, None, None]:
        """Return grad_output · T (q - p) / b for the student logits; no gradient for targets or T."""
        log_q, target_probs = ctx.saved_tensors
        scale = ctx.T / log_q.shape[0]
        return log_q.exp().sub_(target_probs).mul_(grad_output * scale), None, None


def soft_target_cross_entropy(student_logits: Tensor, target_probs: Tensor, T: float = 1.0) -> Tensor:
    """L = -(T²/b) Σ_s Σ_i p_{i,s} log softmax(z_s/T)_i for given target probabilities p (no input checks)."""
    return SoftTargetCrossEntropy.apply(student_logits, target_probs, T)
