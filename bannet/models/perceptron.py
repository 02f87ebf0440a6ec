"""Multilayer perceptron for MNIST (784-800-800-10 ReLU, as in Hinton et al. 2015)."""

from collections.abc import Sequence

from torch import nn

from ._checks import check_int, check_num_classes


def mlp(in_features: int = 784, hidden: Sequence[int] = (800, 800), num_classes: int = 10) -> nn.Sequential:
    """Flatten, then ``Linear -> ReLU`` for each width in ``hidden``, then a linear classifier."""
    check_int("in_features", in_features, 1)
    for width in hidden:
        check_int("hidden width", width, 1)
    check_num_classes(num_classes)
    widths = [in_features, *hidden]
    layers: list[nn.Module] = [nn.Flatten()]
    for fan_in, fan_out in zip(widths, widths[1:]):
        layers += [nn.Linear(fan_in, fan_out), nn.ReLU(inplace=True)]
    layers.append(nn.Linear(widths[-1], num_classes))
    return nn.Sequential(*layers)
