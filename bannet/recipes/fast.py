"""The fast recipe of Keller Jordan, "94% on CIFAR-10 in 3.29 Seconds on a Single GPU" (2024, arXiv 2404.00498),
written from the paper's description, for the airbench networks (bannet.models.airbench).

Evidence: its recorded pilot (benchmarks/README.md, seed 0, 2-core CPU) reached 92.55% plain CIFAR-10 test accuracy
with hard labels at learning rate 5.0 (per 1024 images) in 10 epochs and 93.09% in 15; the paper's authors report
93.33% for hard labels at 15 epochs, batch 1000, plain evaluation (their self-distillation study, mean of 20 runs).

Differences from airbench94, each on purpose: hard labels (a smoothed teacher distils worse, and smoothing is one of
this book's controls), whole epochs, and bannet's losses are batch means where airbench sums them, so the learning
rate given here is converted (`sgd_lr`) to give the same steps for every loss. Lookahead, which airbench94 uses, is
the second recipe here (`FastLookaheadRecipe`), the one the CIFAR-10 study trains by since its pilot
(bannet/recipes/lookahead.py).
"""

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from bannet.data.augment import AlternatingFlipTranslate
from bannet.data.specs import DatasetSpec
from bannet.errors import InvalidInput
from bannet.models.airbench import PatchWhitening

from .base import Recipe, sgd
from .lookahead import EVERY, Lookahead

_KILO = 1024


@dataclass(frozen=True)
class FastRecipe(Recipe):
    """Nesterov SGD with learning rate and weight decay per 1024 images, a per-step triangle schedule, alternating
    flips with 2-px translations, the whitening bias trained only in the first epochs, flip test-time augmentation.

    lr and weight_decay are in the paper's units: per 1024 images, with the momentum's gain 1 + 1/(1 − m) divided
    out, so they do not change with the batch. The biases of BatchNorm layers with a fixed scale (the airbench
    networks') learn bias_lr_factor times faster, with the same absolute weight decay; a BatchNorm that learns its scale
    (another family trained with this recipe) keeps its bias at the weights' rate, since the factor was tuned for a
    bias that is the layer's only learnt parameter. The schedule rises linearly from warmup_from to 1 at peak_at of the
    steps, then falls linearly to end_at.
    """

    name = "airbench"
    tta_views = ("flip",)

    batch_size: int = 1000
    lr: float = 5.0
    momentum: float = 0.85
    weight_decay: float = 0.0153
    bias_lr_factor: float = 64.0
    warmup_from: float = 0.2
    peak_at: float = 0.23
    end_at: float = 0.07
    translate: int = 2
    whitening_bias_epochs: int = 3

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0 <= self.momentum < 1 or self.weight_decay < 0 or not self.bias_lr_factor > 0:
            raise InvalidInput(f"need 0 <= momentum < 1, weight_decay >= 0, bias_lr_factor > 0; got momentum "
                               f"{self.momentum}, weight_decay {self.weight_decay}, "
                               f"bias_lr_factor {self.bias_lr_factor}")
        if not 0 < self.peak_at < 1:
            raise InvalidInput(f"peak_at is a fraction of the steps in (0, 1), got {self.peak_at}")

    @property
    def _per_batch(self) -> float:
        """batch / 1024 · (1 − m) / (2 − m): from the paper's units to a step on a batch-mean loss."""
        return self.batch_size / _KILO * (1 - self.momentum) / (2 - self.momentum)

    @property
    def sgd_lr(self) -> float:
        """The SGD learning rate on a batch-mean loss: lr · batch / 1024 · (1 − m) / (2 − m)."""
        return self.lr * self._per_batch

    def make_optimizer(self, model: nn.Module, device: torch.device) -> torch.optim.SGD:
        """Two groups: the weights at sgd_lr (first, so an epoch's recorded rate is theirs), the biases of fixed-scale
        BatchNorm layers at sgd_lr · bias_lr_factor; both decay each weight by weight_decay · batch / 1024 · (1 − m) /
        (2 − m) per step at the schedule's peak, whatever their rate."""
        norm_biases = {id(m.bias) for m in model.modules()
                       if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.affine and not m.weight.requires_grad}
        trainable = [p for p in model.parameters() if p.requires_grad]
        decay = self.weight_decay * self._per_batch
        groups = []
        for params, lr in (([p for p in trainable if id(p) not in norm_biases], self.sgd_lr),
                           ([p for p in trainable if id(p) in norm_biases], self.sgd_lr * self.bias_lr_factor)):
            if params:
                groups.append({"params": params, "lr": lr, "weight_decay": decay / lr})
        return sgd(groups, self.momentum, True, device)

    def lr_factor(self, step: int, steps_per_epoch: int) -> float:
        """Linear from warmup_from at step 0 to 1 at ⌊peak_at · steps⌋, then to end_at at the last step."""
        steps = self.epochs * steps_per_epoch
        return float(np.interp(step, [0, int(self.peak_at * steps), steps], [self.warmup_from, 1.0, self.end_at]))

    def augmentation(self, spec: DatasetSpec) -> AlternatingFlipTranslate | None:
        """Alternating flips with translations of up to `translate` pixels (none where the data set has none)."""
        return None if spec.augment == "none" else AlternatingFlipTranslate(self.translate)

    def start_epoch(self, model: nn.Module, epoch: int) -> None:
        """The whitening bias learns in the first whitening_bias_epochs epochs and is frozen after."""
        for module in model.modules():
            if isinstance(module, PatchWhitening):
                module.bias.requires_grad_(epoch < self.whitening_bias_epochs)

    def describe(self) -> str:
        """Epochs, batch, the learning rate for batch-mean losses and its schedule, augmentation, the whitening bias."""
        return (f"{self.epochs} epochs of Nesterov SGD (momentum {self.momentum:g}, batches of {self.batch_size}) at "
                f"learning rate {self.sgd_lr:.4g} on the batch-mean loss ({self.lr:g} per 1,024 images in the paper's "
                f"units; BatchNorm biases ×{self.bias_lr_factor:g}), weight decay {self.weight_decay:g} per 1,024 "
                f"images; per step, linear from ×{self.warmup_from:g} to ×1 at {self.peak_at:.0%} of the steps, then "
                f"to ×{self.end_at:g}; alternating flips and {self.translate}-px translations; the whitening bias "
                f"learns for {self.whitening_bias_epochs} epochs.")


@dataclass(frozen=True)
class FastLookaheadRecipe(FastRecipe):
    """The fast recipe with airbench94's lookahead (bannet.recipes.lookahead): the trained model is the slow weights."""

    name = "airbench-lookahead"

    def lookahead(self, model: nn.Module) -> Lookahead:
        """Slow weights from the model as it starts training (its whitening already fitted)."""
        return Lookahead(model)

    def describe(self) -> str:
        """The fast recipe's sentence and its lookahead."""
        return super().describe() + f" Lookahead every {EVERY} steps (the slow weights are the trained model)."
