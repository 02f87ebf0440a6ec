"""Pre-activation ResNets for CIFAR (He et al. 2016, "Identity Mappings in Deep Residual Networks") and the wide
ResNets built from the same blocks (Zagoruyko & Komodakis 2016)."""

from collections.abc import Sequence

import torch
from torch import nn

from ._checks import check_int, check_num_classes, units_per_stage
from .initialization import he_init_


def conv3x3(in_channels: int, out_channels: int, stride: int = 1) -> nn.Conv2d:
    """3x3 convolution with padding 1 and no bias (a BatchNorm always follows)."""
    return nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)


class PreActBlock(nn.Module):
    """Pre-activation basic block: y = conv(drop(relu(bn(conv(relu(bn(x))))))) + shortcut(x)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int, dropout: float = 0.0):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_channels)
        self.conv1 = conv3x3(in_channels, out_channels, stride)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = conv3x3(out_channels, out_channels)
        reshapes = stride != 1 or in_channels != out_channels
        self.projection = nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False) if reshapes else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Residual branch on the pre-activated input; a 1x1 projection of it when the shape changes."""
        activated = torch.relu(self.bn1(x))
        shortcut = x if self.projection is None else self.projection(activated)
        out = self.conv1(activated)
        out = self.conv2(self.dropout(torch.relu(self.bn2(out))))
        return out + shortcut


class PreActResNet(nn.Module):
    """conv3x3 stem, three groups of pre-activation blocks (strides 1, 2, 2), BN-ReLU, average pool, linear."""

    def __init__(
        self,
        stem_width: int,
        group_widths: Sequence[int],
        blocks_per_group: int,
        num_classes: int,
        dropout: float = 0.0,
    ):
        super().__init__()
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.stem = conv3x3(3, stem_width)
        blocks: list[nn.Module] = []
        in_channels = stem_width
        for group, width in enumerate(group_widths):
            for index in range(blocks_per_group):
                stride = 2 if group > 0 and index == 0 else 1
                blocks.append(PreActBlock(in_channels, width, stride, dropout))
                in_channels = width
        self.blocks = nn.Sequential(*blocks)
        self.head_bn = nn.BatchNorm2d(in_channels)
        self.classifier = nn.Linear(in_channels, num_classes)
        he_init_(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of shape (N, num_classes) for images of shape (N, 3, H, W)."""
        features = torch.relu(self.head_bn(self.blocks(self.stem(x))))
        return self.classifier(features.mean(dim=(2, 3)))


def preresnet(depth: int, width: float = 1.0, num_classes: int = 10) -> PreActResNet:
    """Pre-ResNet-depth (depth = 6n+2) with stem 16 and group widths round(16w), round(32w), round(64w)."""
    n = units_per_stage(depth, 2, "Pre-ResNet")
    if not width > 0:
        raise ValueError(f"width must be > 0, got {width}")
    group_widths = [max(1, round(base * width)) for base in (16, 32, 64)]
    return PreActResNet(16, group_widths, n, check_num_classes(num_classes))


def wrn(depth: int, widen: int, num_classes: int = 10, dropout: float = 0.0) -> PreActResNet:
    """WRN-depth-widen: n = (depth - 4) / 6 blocks per group, widths 16, 16k, 32k, 64k, dropout between convs."""
    n = units_per_stage(depth, 4, "WRN")
    check_int("widen", widen, 1)
    return PreActResNet(16, [16 * widen, 32 * widen, 64 * widen], n, check_num_classes(num_classes), dropout)
