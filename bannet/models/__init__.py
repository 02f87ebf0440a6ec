"""Model zoo: CIFAR/MNIST/ImageWang networks used in the paper, built by name."""

from collections.abc import Callable

from torch import nn

from ..errors import InvalidInput
from ._checks import check_num_classes
from .densenet import densenet_bc
from .imagenet import densenet121, resnet18
from .names import FAMILY_PATTERNS
from .perceptron import mlp
from .preact_resnet import preresnet, wrn

__all__ = [
    "PAPER_DENSENETS",
    "PAPER_PARAMS",
    "build",
    "count_parameters",
    "densenet121",
    "densenet_bc",
    "mlp",
    "names",
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
                                                          "preresnet-D": preresnet}

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
    """Canonical model names: the paper's WRNs and DenseNet-BCs, and the MLP, Pre-ResNets, ResNet-18 and DenseNet-121
    the book adds (the paper's shape-matched Pre-ResNet-14 students of its Table 5 are not implemented)."""
    return list(CANONICAL_NAMES)


def build(name: str, num_classes: int) -> nn.Module:
    """Build a freshly initialised model from a canonical name or a ``wrn-D-W``/``densenet-D-G``/``preresnet-D`` name.

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
