"""Model zoo: CIFAR/MNIST/ImageWang networks used in the paper, built by name."""

from collections.abc import Callable

import torch
from torch import nn

from ..errors import InvalidInput
from ._checks import check_num_classes
from .airbench import airbench
from .densenet import densenet_bc
from .imagenet import densenet121, resnet18
from .names import FAMILY_PATTERNS
from .perceptron import mlp
from .preact_resnet import preresnet, wrn

__all__ = [
    "FIT_IMAGES",
    "PAPER_DENSENETS",
    "PAPER_PARAMS",
    "airbench",
    "build",
    "count_parameters",
    "densenet121",
    "densenet_bc",
    "fit_to_training_images",
    "mlp",
    "names",
    "needs_training_images",
    "preresnet",
    "resnet18",
    "wrn",
]

FIXED_BUILDERS: dict[str, Callable[[int], nn.Module]] = {
    "mlp": lambda num_classes: mlp(num_classes=num_classes),
    "resnet18": resnet18,
    "densenet121": densenet121,
}

PATTERN_BUILDERS: dict[str, Callable[..., nn.Module]] = {"wrn-D-W": wrn, "densenet-D-G": densenet_bc,
                                                          "preresnet-D": preresnet,
                                                          "airbench-W1-W2-W3": airbench}

CANONICAL_NAMES = [
    "mlp",
    "wrn-28-1",
    "wrn-28-2",
    "wrn-28-5",
    "wrn-28-10",
    "densenet-112-33",
    "densenet-90-60",
    "densenet-80-80",
    "densenet-80-120",
    "preresnet-56",
    "preresnet-110",
    "resnet18",
    "densenet121",
    "airbench-64-256-256",
    "airbench-128-384-384",
]

PAPER_PARAMS: dict[str, float] = {
    "wrn-28-1": 0.38,
    "wrn-28-2": 1.48,
    "wrn-28-5": 9.16,
    "wrn-28-10": 36.0,
    "densenet-112-33": 6.3,
    "densenet-90-60": 16.1,
    "densenet-80-80": 22.4,
    "densenet-80-120": 50.4,
}
"""Parameter counts in millions reported in Table 1 of Furlanello et al. (2018), a CIFAR-10 table whose counts match
100-class heads (WRN-28-5: 9.16M with 100 classes, 9.13M with 10)."""

PAPER_DENSENETS: dict[str, str] = {
    "densenet-90-60": "densenet-88-60",
    "densenet-80-80": "densenet-76-80",
    "densenet-80-120": "densenet-76-120",
}
"""The paper's DenseNet-BC names whose depth is not 6n+4, and the standard DenseNet-BC each one builds.

A DenseNet-BC of depth 6n+4 has n bottleneck layers per block; the paper's depths 90 and 80 fit no n, so
these names build the 6n+4 depth just below (88: n = 14; 76: n = 12) with the paper's growth rate. Every
other depth that is not 6n+4 is refused.
"""


def names() -> list[str]:
    """Canonical model names: the paper's WRNs and DenseNet-BCs, and the MLP, Pre-ResNets, ResNet-18, DenseNet-121 and
    fast airbench networks the book adds (the paper's shape-matched Pre-ResNet-14 students of its Table 5 are not
    implemented)."""
    return list(CANONICAL_NAMES)


def build(name: str, num_classes: int) -> nn.Module:
    """Build a freshly initialised model from a canonical name or a ``wrn-D-W``/``densenet-D-G``/``preresnet-D``/
    ``airbench-W1-W2-W3`` name. A model for which needs_training_images() is true is fitted before it trains.

    The paper's densenet-90-60, densenet-80-80 and densenet-80-120 build the models PAPER_DENSENETS names.
    """
    check_num_classes(num_classes)
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, got {type(name).__name__}")
    name = PAPER_DENSENETS.get(name, name)
    if name in FIXED_BUILDERS:
        return FIXED_BUILDERS[name](num_classes)
    for family, builder in PATTERN_BUILDERS.items():
        match = FAMILY_PATTERNS[family].fullmatch(name)
        if match:
            return builder(*map(int, match.groups()), num_classes=num_classes)
    raise InvalidInput(
        f"unknown model name {name!r}; expected one of {sorted(FIXED_BUILDERS)} "
        f"or a pattern {list(PATTERN_BUILDERS)} (canonical: {CANONICAL_NAMES})"
    )


def count_parameters(model: nn.Module) -> int:
    """Total number of parameter elements, sum over p of p.numel()."""
    return sum(parameter.numel() for parameter in model.parameters())


FIT_IMAGES = 5000
"""How many training images (the first of the split, un-augmented) a model that needs_training_images is fitted on,
as airbench fits its whitening."""


def needs_training_images(model: nn.Module) -> bool:
    """True when part of the model is computed from the training images before training (airbench's whitening)."""
    return any(hasattr(module, "fit_to_training_images") for module in model.modules())


def fit_to_training_images(model: nn.Module, images: torch.Tensor) -> nn.Module:
    """Fit every part of `model` that is computed from the normalised, un-augmented training images; returns it.

    The one place this happens: every model a study trains is fitted here, on training images only, never test ones.
    """
    for module in model.modules():
        if hasattr(module, "fit_to_training_images"):
            module.fit_to_training_images(images)
    return model
