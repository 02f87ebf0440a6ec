"""The paper's WRN recipe (Zagoruyko & Komodakis 2016, as Furlanello et al. 2018 train): SGD with a step schedule."""

import math
from dataclasses import dataclass

import torch
from torch import nn

from bannet.errors import InvalidInput

from .base import Recipe, sgd


@dataclass(frozen=True)
class StepRecipe(Recipe):
    """SGD(0.9, Nesterov, wd 5e-4), lr 0.1 ×0.2 at 30/60/80% of the epochs, batch 128, the data set's augmentation."""

    name = "wrn-step"

    batch_size: int = 128
    lr: float = 0.1
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 5e-4
    milestones: tuple[float, ...] = (0.3, 0.6, 0.8)
    gamma: float = 0.2

    def __post_init__(self) -> None:
        super().__post_init__()
        if any(not 0 < m < 1 for m in self.milestones):
            raise InvalidInput(f"milestones are fractions of the epochs in (0, 1), got {self.milestones}")
        if not 0 < self.gamma <= 1 or not 0 <= self.momentum < 1 or self.weight_decay < 0:
            raise InvalidInput(f"need 0 < gamma <= 1, 0 <= momentum < 1, weight_decay >= 0; got gamma {self.gamma}, "
                               f"momentum {self.momentum}, weight_decay {self.weight_decay}")

    @property
    def drop_epochs(self) -> list[int]:
        """0-based epochs from which the learning rate is multiplied by γ once more: ⌈m · epochs⌉."""
        return sorted(math.ceil(m * self.epochs) for m in self.milestones)

    def lr_at(self, epoch: int) -> float:
        """Learning rate of a 0-based epoch: lr · γ^(number of milestones reached)."""
        return self.lr * self.gamma ** sum(epoch >= drop for drop in self.drop_epochs)

    def lr_factor(self, step: int, steps_per_epoch: int) -> float:
        """γ^(milestones reached by the step's epoch): constant within an epoch."""
        return self.lr_at(step // steps_per_epoch) / self.lr

    def make_optimizer(self, model: nn.Module, device: torch.device) -> torch.optim.SGD:
        """One group: every parameter at lr with weight decay (coupled, as torch's SGD adds it to the gradient)."""
        group = {"params": list(model.parameters()), "lr": self.lr, "weight_decay": self.weight_decay}
        return sgd([group], self.momentum, self.nesterov, device)

    def describe(self) -> str:
        """Epochs, SGD's settings, batch, and the epochs after which the learning rate drops."""
        drops = ", ".join(map(str, sorted(set(self.drop_epochs))))
        return (f"{self.epochs} epochs of SGD (momentum {self.momentum:g}{', Nesterov' if self.nesterov else ''}, "
                f"weight decay {self.weight_decay:g}, batches of {self.batch_size}); learning rate {self.lr:g}, "
                f"multiplied by {self.gamma:g} after epochs {drops}.")
