"""Dark Knowledge with Permuted Predictions "dkpp": BAN loss against per-sample permuted teacher outputs."""

import torch
from torch import Tensor

from ._validation import validate_inputs
from .base import TemperedDistillationLoss
from .soft_target import soft_target_cross_entropy, teacher_probabilities


def _argmax_first_order(keys: Tensor, argmax: Tensor) -> Tensor:
    """Column order of each row sorted by ascending key, with the row's argmax column forced first (keys >= 0)."""
    return keys.scatter(1, argmax, -1.0).argsort(dim=1)


def dkpp_targets(probs: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """p̃_s = p_s with its argmax entry kept in place and the other n-1 entries permuted at random, per row."""
    if not isinstance(probs, Tensor) or not probs.is_floating_point() or probs.ndim != 2:
        raise ValueError(f"probs must be a 2-D floating-point Tensor, got {type(probs).__name__} "
                         f"{getattr(probs, 'dtype', '')} of shape {tuple(getattr(probs, 'shape', ()))}")
    batch, classes = probs.shape
    argmax = probs.argmax(dim=1, keepdim=True)
    key_device = generator.device if generator is not None else probs.device
    random_keys = torch.rand(batch, classes, generator=generator, device=key_device)
    if random_keys.device.type == "cpu" and probs.device.type == "cuda":  # copy without blocking the host
        random_keys = random_keys.pin_memory().to(probs.device, non_blocking=True)
    else:
        random_keys = random_keys.to(probs.device)
    ascending_keys = torch.arange(classes, dtype=random_keys.dtype, device=probs.device).expand(batch, classes)
    source = _argmax_first_order(random_keys, argmax)
    destination = _argmax_first_order(ascending_keys, argmax)
    return torch.empty_like(probs).scatter_(1, destination, probs.gather(1, source))


def dkpp_loss(
    student_logits: Tensor, teacher_logits: Tensor, T: float = 1.0, generator: torch.Generator | None = None
) -> Tensor:
    """L = -(T²/b) Σ_s Σ_i p̃_{i,s} log q_{i,s}, p̃ = dkpp_targets(softmax(t/T)); ∂L/∂z = T (q - p̃) / b."""
    validate_inputs(student_logits, teacher_logits, temperature=T, needs_teacher=True)
    targets = dkpp_targets(teacher_probabilities(teacher_logits, T), generator)
    return soft_target_cross_entropy(student_logits, targets, T)


class DKPPLoss(TemperedDistillationLoss):
    """DKPP: BAN loss against p̃, drawn from a CPU generator seeded by `seed` (random when None)."""

    def __init__(self, T: float = 1.0, seed: int | None = None) -> None:
        super().__init__(T)
        self.generator = torch.Generator()
        if seed is None:
            self.generator.seed()
        else:
            self.generator.manual_seed(seed)

    def forward(self, student_logits: Tensor, teacher_logits: Tensor, labels: Tensor) -> Tensor:
        """Return the DKPP loss of one batch, advancing the generator; the labels are ignored."""
        return dkpp_loss(student_logits, teacher_logits, self.T, self.generator)

    def get_extra_state(self) -> Tensor:
        """Store the generator state in state_dict so a resumed run draws the same permutations."""
        return self.generator.get_state()

    def set_extra_state(self, state: Tensor) -> None:
        """Restore the generator state saved by get_extra_state."""
        self.generator.set_state(state)
