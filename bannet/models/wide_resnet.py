"""Wide residual networks for CIFAR (Zagoruyko & Komodakis 2016)."""

from ._checks import check_int, check_num_classes, units_per_stage
from .preact_resnet import PreActResNet


def wrn(depth: int, widen: int, num_classes: int = 10, dropout: float = 0.0) -> PreActResNet:
    """WRN-depth-widen: n = (depth - 4) / 6 blocks per group, widths 16, 16k, 32k, 64k, dropout between convs."""
    n = units_per_stage(depth, 4, "WRN")
    check_int("widen", widen, 1)
    return PreActResNet(16, [16 * widen, 32 * widen, 64 * widen], n, check_num_classes(num_classes), dropout)
