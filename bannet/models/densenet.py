"""DenseNet-BC for CIFAR (Huang et al. 2017): bottleneck layers and 0.5 compression."""

import torch
from torch import nn

from ._checks import check_int, check_num_classes, units_per_stage
from .initialization import he_init_

COMPRESSION = 0.5
BOTTLENECK_FACTOR = 4


def bn_relu_conv(in_channels: int, out_channels: int, kernel_size: int) -> nn.Sequential:
    """BN -> ReLU -> conv (padding keeps the spatial size, no bias)."""
    return nn.Sequential(
        nn.BatchNorm2d(in_channels),
        nn.ReLU(inplace=True),
        nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=False),
    )


class DenseLayer(nn.Module):
    """Bottleneck layer: y = cat(x, conv3x3(conv1x1(x) to 4*growth) to growth) along channels."""

    def __init__(self, in_channels: int, growth: int):
        super().__init__()
        self.bottleneck = bn_relu_conv(in_channels, BOTTLENECK_FACTOR * growth, 1)
        self.conv = bn_relu_conv(BOTTLENECK_FACTOR * growth, growth, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Append ``growth`` new feature maps to the input."""
        return torch.cat([x, self.conv(self.bottleneck(x))], dim=1)


def transition(in_channels: int, out_channels: int) -> nn.Sequential:
    """Transition between dense blocks: BN-ReLU-conv1x1 then 2x2 average pooling."""
    return nn.Sequential(bn_relu_conv(in_channels, out_channels, 1), nn.AvgPool2d(2))


class DenseNetBC(nn.Module):
    """conv3x3 stem to 2*growth, three dense blocks joined by compressing transitions, BN-ReLU-pool-linear."""

    def __init__(self, layers_per_block: int, growth: int, num_classes: int):
        super().__init__()
        channels = 2 * growth
        stages: list[nn.Module] = [nn.Conv2d(3, channels, 3, padding=1, bias=False)]
        for block in range(3):
            if block > 0:
                compressed = int(channels * COMPRESSION)
                stages.append(transition(channels, compressed))
                channels = compressed
            for _ in range(layers_per_block):
                stages.append(DenseLayer(channels, growth))
                channels += growth
        stages += [nn.BatchNorm2d(channels), nn.ReLU(inplace=True)]
        self.features = nn.Sequential(*stages)
        self.classifier = nn.Linear(channels, num_classes)
        he_init_(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of shape (N, num_classes) for images of shape (N, 3, H, W)."""
        return self.classifier(self.features(x).mean(dim=(2, 3)))


def densenet_bc(depth: int, growth: int, num_classes: int = 10) -> DenseNetBC:
    """DenseNet-BC-depth-growth: depth = 6n + 4 (n >= 1) with n bottleneck layers of 2 convs per block."""
    layers_per_block = units_per_stage(depth, 4, "DenseNet-BC")
    check_int("growth", growth, 1)
    return DenseNetBC(layers_per_block, growth, check_num_classes(num_classes))
