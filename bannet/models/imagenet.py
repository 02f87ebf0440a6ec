"""ImageNet-style torchvision networks with their standard stems, randomly initialised (never downloaded)."""

from torch import nn
from torchvision import models

from ._checks import check_num_classes


def resnet18(num_classes: int) -> nn.Module:
    """torchvision ResNet-18 (He et al. 2016) with ``weights=None``."""
    return models.resnet18(weights=None, num_classes=check_num_classes(num_classes))


def densenet121(num_classes: int) -> nn.Module:
    """torchvision DenseNet-121 (Huang et al. 2017) with ``weights=None``."""
    return models.densenet121(weights=None, num_classes=check_num_classes(num_classes))
