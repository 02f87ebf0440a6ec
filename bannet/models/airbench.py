"""The fast CIFAR network of Keller Jordan, "94% on CIFAR-10 in 3.29 Seconds on a Single GPU" (2024, arXiv 2404.00498),
written from the paper's description.

A frozen 2×2 patch-whitening convolution (fitted to the training images before training, see `fit_to_training_images`),
GELU, three groups of conv → max-pool → BN → GELU → conv → BN → GELU, a global max-pool and a bias-free linear head
whose logits are scaled by 1/9. BatchNorm learns only its bias (its scale stays 1) and keeps 40% of each new batch's
statistics (the paper's momentum 0.6 in its convention); every 3×3 convolution starts as the identity on its input
channels (dirac), the rest of its filters at PyTorch's default. The paper's widths are 64/256/256 (airbench94).
"""

from collections.abc import Sequence

import torch
from torch import nn

from ._checks import check_int, check_num_classes

WHITENING_EPS = 5e-4
LOGIT_SCALE = 1 / 9
BN_MOMENTUM = 0.4  # PyTorch's convention: the weight of the new batch in the running statistics
BN_EPS = 1e-12


class PatchWhitening(nn.Module):
    """y = W x + b over 2×2 patches (no padding): W holds the eigenvectors v_i of the training patches' covariance
    scaled by 1/√(λ_i + ε), and their negatives; W is fitted, never trained; the bias b is trained."""

    def __init__(self, channels: int = 3, patch: int = 2) -> None:
        super().__init__()
        dims = channels * patch * patch
        self.patch = patch
        self.register_buffer("weight", torch.zeros(2 * dims, channels, patch, patch))
        self.bias = nn.Parameter(torch.zeros(2 * dims))

    @torch.no_grad()
    def fit_to_training_images(self, images: torch.Tensor) -> None:
        """Set W from normalised, un-augmented training images (N×C×H×W): eigenvectors of their patches' covariance."""
        eigenvalues, eigenvectors = patch_eigenbasis(images, self.patch)
        scaled = eigenvectors / torch.sqrt(eigenvalues + WHITENING_EPS).view(-1, 1, 1, 1)
        self.weight.copy_(torch.cat([scaled, -scaled]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The whitened patches, one output pixel per 2×2 patch."""
        return nn.functional.conv2d(x, self.weight, self.bias)


def image_patches(images: torch.Tensor, patch: int) -> torch.Tensor:
    """Every patch×patch patch of every image (stride 1), flattened: (N·(H−patch+1)·(W−patch+1)) × (C·patch²)."""
    n, c = images.shape[:2]
    patches = images.unfold(2, patch, 1).unfold(3, patch, 1)  # N, C, H', W', p, p
    return patches.permute(0, 2, 3, 1, 4, 5).reshape(-1, c * patch * patch)


def patch_eigenbasis(images: torch.Tensor, patch: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(eigenvalues λ, descending; eigenvectors as C×patch×patch filters) of the covariance of the images' patches,
    accumulated in float64 over chunks of images so that memory stays bounded."""
    total, outer, count = 0.0, 0.0, 0
    for chunk in images.split(256):
        flat = image_patches(chunk.double(), patch)
        total, outer, count = total + flat.sum(0), outer + flat.T @ flat, count + len(flat)
    mean = total / count
    covariance = (outer - count * torch.outer(mean, mean)) / (count - 1)
    eigenvalues, eigenvectors = torch.linalg.eigh(covariance)
    order = eigenvalues.argsort(descending=True)
    filters = eigenvectors.T[order].reshape(-1, images.shape[1], patch, patch)
    return eigenvalues[order].float(), filters.float()


class _BiasOnlyBatchNorm(nn.BatchNorm2d):
    """BatchNorm whose scale is fixed at 1 and whose bias is learnt."""

    def __init__(self, channels: int) -> None:
        super().__init__(channels, eps=BN_EPS, momentum=BN_MOMENTUM)
        self.weight.requires_grad_(False)


def _conv3x3(in_channels: int, out_channels: int) -> nn.Conv2d:
    """3×3 convolution, padding 1, no bias; its first in_channels filters are the identity (dirac)."""
    conv = nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False)
    with torch.no_grad():
        nn.init.dirac_(conv.weight[:min(in_channels, out_channels)])
    return conv


class _ConvGroup(nn.Sequential):
    """conv → 2×2 max-pool → BN → GELU → conv → BN → GELU."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(_conv3x3(in_channels, out_channels), nn.MaxPool2d(2), _BiasOnlyBatchNorm(out_channels),
                         nn.GELU(), _conv3x3(out_channels, out_channels), _BiasOnlyBatchNorm(out_channels), nn.GELU())


class AirbenchNet(nn.Module):
    """Patch whitening → GELU → three conv groups → global max-pool → linear (no bias) × 1/9."""

    def __init__(self, widths: Sequence[int], num_classes: int, channels: int = 3) -> None:
        super().__init__()
        self.whiten = PatchWhitening(channels)
        groups, width = [], self.whiten.bias.numel()
        for out in widths:
            groups.append(_ConvGroup(width, out))
            width = out
        self.features = nn.Sequential(nn.GELU(), *groups, nn.AdaptiveMaxPool2d(1), nn.Flatten())
        self.classifier = nn.Linear(width, num_classes, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of shape (N, num_classes) for images of shape (N, C, H, W)."""
        return self.classifier(self.features(self.whiten(x))) * LOGIT_SCALE


def airbench(width1: int, width2: int, width3: int, num_classes: int = 10) -> AirbenchNet:
    """airbench-W1-W2-W3: the fast network with the given widths of its three groups (airbench94: 64-256-256)."""
    widths = [check_int(f"width {i + 1}", w, 1) for i, w in enumerate((width1, width2, width3))]
    return AirbenchNet(widths, check_num_classes(num_classes))
