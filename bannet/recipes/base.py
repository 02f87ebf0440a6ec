"""What every training recipe states: epochs, batch, learning rate, and how it optimises, schedules and augments."""

from dataclasses import asdict, dataclass
from typing import ClassVar

import torch
from torch import nn

from bannet.data.augment import Augmentation, build_augmentation
from bannet.data.specs import DatasetSpec
from bannet.errors import InvalidInput
from bannet.precision import check_precision

from .lookahead import Lookahead


@dataclass(frozen=True)
class Recipe:
    """How one model learns: its optimiser, per-step learning-rate schedule, training augmentation and the views it is
    evaluated on besides the plain one (test-time augmentation, recorded apart). Precision and compile say how it is
    computed, not what it computes."""

    name: ClassVar[str]
    tta_views: ClassVar[tuple[str, ...]] = ()

    epochs: int
    batch_size: int
    lr: float
    precision: str = "auto"
    compile: bool = False

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise InvalidInput(f"epochs must be >= 1, got {self.epochs}")
        if self.batch_size < 1:
            raise InvalidInput(f"batch_size must be >= 1, got {self.batch_size}")
        if not self.lr > 0:
            raise InvalidInput(f"lr must be > 0, got {self.lr}")
        check_precision(self.precision)

    def make_optimizer(self, model: nn.Module, device: torch.device) -> torch.optim.Optimizer:
        """The optimiser over the model's trainable parameters; each group keeps its unscheduled rate as "base_lr"."""
        raise NotImplementedError

    def lr_factor(self, step: int, steps_per_epoch: int) -> float:
        """The factor on every group's base learning rate at a 0-based optimisation step."""
        raise NotImplementedError

    def augmentation(self, spec: DatasetSpec) -> Augmentation | None:
        """A fresh training augmentation for one model (the data set's own unless the recipe says otherwise)."""
        return build_augmentation(spec)

    def start_epoch(self, model: nn.Module, epoch: int) -> None:
        """What changes in the model at the start of a 0-based epoch (nothing, unless the recipe says otherwise)."""

    def lookahead(self, model: nn.Module) -> Lookahead | None:
        """The slow weights kept beside the model while it trains (None: the recipe keeps none)."""
        return None

    def describe(self) -> str:
        """The recipe in a sentence, as a chapter states it."""
        raise NotImplementedError

    def to_dict(self) -> dict:
        """A JSON-ready copy of the settings, named by the recipe."""
        return {"recipe": self.name, **asdict(self)}


def sgd(groups: list[dict], momentum: float, nesterov: bool, device: torch.device) -> torch.optim.SGD:
    """SGD over parameter groups (each with lr and weight_decay), "base_lr" set to each group's lr; the fused kernel on
    CUDA, foreach otherwise."""
    fast = {"fused": True} if device.type == "cuda" else {"foreach": True}
    optimizer = torch.optim.SGD(groups, momentum=momentum, nesterov=nesterov, **fast)
    for group in optimizer.param_groups:
        group["base_lr"] = group["lr"]
    return optimizer
