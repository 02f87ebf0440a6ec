"""The common interface of every loss: `loss(student_logits, teacher_logits, labels) -> scalar`."""

from abc import ABC, abstractmethod

from torch import Tensor, nn

from ._validation import check_temperature


class DistillationLoss(nn.Module, ABC):
    """A loss called as loss(student_logits, teacher_logits, labels) -> scalar Tensor."""

    needs_teacher: bool = True

    @abstractmethod
    def forward(self, student_logits: Tensor, teacher_logits: Tensor | None, labels: Tensor) -> Tensor:
        """Return the scalar loss of one batch."""


class TemperedDistillationLoss(DistillationLoss):
    """A DistillationLoss whose teacher distribution is softmax(t / T) at a fixed temperature T."""

    def __init__(self, T: float = 1.0) -> None:
        super().__init__()
        check_temperature(T)
        self.T = T

    def extra_repr(self) -> str:
        """Show the temperature in the module's repr."""
        return f"T={self.T}"
