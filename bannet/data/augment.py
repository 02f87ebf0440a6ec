"""Batched training augmentations on float images in [0, 1], with their random parameters drawn apart.

Each augmentation splits into `draw(n, generator)` (the random parameters of n images, drawn on
the CPU from a torch.Generator, so runs are reproducible and a global batch can be drawn once and
sliced across ranks) and `apply(x, params)` (the geometry, done on x's device in one batched op).
An augmentation with a `start_epoch(order, generator)` hears each epoch's order of images before its
first draw; one that remembers earlier epochs (the alternating flip) has state_dict / load_state_dict.
"""

import math
from typing import Protocol

import torch
import torch.nn.functional as F
from torch import Tensor

from .specs import DatasetSpec


class Augmentation(Protocol):
    """A random image transform whose parameters are drawn separately from their application."""

    def draw(self, n: int, generator: torch.Generator) -> dict[str, Tensor]:
        """Random parameters for n images, as CPU tensors whose first dimension is n."""

    def apply(self, x: Tensor, params: dict[str, Tensor]) -> Tensor:
        """The transformed batch x (N×C×H×W float) under `params` (already on x's device)."""


class PadCropFlip:
    """Pad `pad` pixels, take a random H×W crop, flip it horizontally with probability 1/2.

    Crop offsets are uniform over 0..2·pad in each axis; padding is pixel value 0 (black) before
    normalisation, as torchvision's RandomCrop(size, padding=pad) does, or the image reflected at its
    edge with mode="reflect".
    """

    def __init__(self, pad: int = 4, mode: str = "constant") -> None:
        self.pad = pad
        self.mode = mode

    def draw(self, n: int, generator: torch.Generator) -> dict[str, Tensor]:
        """Offsets (n×2, row then column, in 0..2·pad) and flip flags (n, bool)."""
        offsets = torch.randint(0, 2 * self.pad + 1, (n, 2), generator=generator)
        flips = torch.rand(n, generator=generator) < 0.5
        return {"offsets": offsets, "flips": flips}

    def apply(self, x: Tensor, params: dict[str, Tensor]) -> Tensor:
        """out[i, c, r, k] = padded[i, c, oy_i + r, ox_i + (W−1−k if flip_i else k)], one gather."""
        n, c, h, w = x.shape
        padded = F.pad(x, (self.pad,) * 4, mode=self.mode)
        offsets, flips = params["offsets"], params["flips"]
        rows = offsets[:, :1] + torch.arange(h, device=x.device)
        columns = torch.arange(w, device=x.device).expand(n, w)
        columns = offsets[:, 1:] + torch.where(flips[:, None], columns.flip(1), columns)
        batch = torch.arange(n, device=x.device)[:, None, None, None]
        channel = torch.arange(c, device=x.device)[None, :, None, None]
        return padded[batch, channel, rows[:, None, :, None], columns[:, None, None, :]]


class AlternatingFlipTranslate(PadCropFlip):
    """Translate each image by up to `pad` pixels (reflected edges) and mirror it in alternate epochs (Jordan 2024).

    The first epoch mirrors a random half of the images; every later epoch mirrors exactly the images the one
    before did not, so over two epochs each image is seen once each way, where independent coin flips repeat a view
    in half the pairs of epochs.
    """

    def __init__(self, pad: int = 2) -> None:
        super().__init__(pad, mode="reflect")
        self.first_flips: Tensor | None = None  # per image index: mirrored in the first epoch
        self.epoch = -1
        self._flips, self._drawn = torch.zeros(0, dtype=torch.bool), 0

    def start_epoch(self, order: Tensor, generator: torch.Generator) -> None:
        """Flags of this epoch in the epoch's order of images: the first epoch's, negated in every odd epoch."""
        if self.first_flips is None:
            self.first_flips = torch.rand(len(order), generator=generator) < 0.5
        self.epoch += 1
        self._flips, self._drawn = self.first_flips[order] ^ bool(self.epoch % 2), 0

    def draw(self, n: int, generator: torch.Generator) -> dict[str, Tensor]:
        """Offsets (n×2, in 0..2·pad) and the flip flags of the next n images of the epoch."""
        offsets = torch.randint(0, 2 * self.pad + 1, (n, 2), generator=generator)
        flips = self._flips[self._drawn:self._drawn + n]
        self._drawn += n
        return {"offsets": offsets, "flips": flips}

    def state_dict(self) -> dict:
        """What the next epoch needs: the first epoch's flags and the number of epochs started."""
        return {"first_flips": self.first_flips, "epoch": self.epoch}

    def load_state_dict(self, state: dict) -> None:
        """Continue after the epochs a saved state had started."""
        self.first_flips, self.epoch = state["first_flips"], state["epoch"]


class ResizedCropFlip:
    """Random-resized crop (area fraction in `scale`, aspect w/h in `ratio`) to size×size, random flip.

    Like torchvision's RandomResizedCrop: 10 tries per image of (area, log-uniform aspect), the first
    that fits is used, else the whole image; the crop is resampled bilinearly with continuous (not
    integer) corners by one affine grid_sample. Flipping negates the grid's x scale.
    """

    tries = 10

    def __init__(self, size: int, scale: tuple[float, float] = (0.35, 1.0),
                 ratio: tuple[float, float] = (3 / 4, 4 / 3)) -> None:
        self.size = size
        self.scale = scale
        self.ratio = ratio

    def draw(self, n: int, generator: torch.Generator) -> dict[str, Tensor]:
        """Affine matrices theta (n×2×3) mapping output to input coordinates in [−1, 1]."""
        area = torch.empty(n, self.tries).uniform_(*self.scale, generator=generator)
        log_ratio = torch.empty(n, self.tries).uniform_(*map(math.log, self.ratio), generator=generator)
        width = (area * log_ratio.exp()).sqrt()
        height = (area / log_ratio.exp()).sqrt()
        fits = (width <= 1) & (height <= 1)
        first = fits.int().argmax(1, keepdim=True)
        found = fits.any(1)
        width = torch.where(found, width.gather(1, first).squeeze(1), torch.ones(n))
        height = torch.where(found, height.gather(1, first).squeeze(1), torch.ones(n))
        centre = torch.rand(n, 2, generator=generator) * 2 - 1
        flips = torch.rand(n, generator=generator) < 0.5
        theta = torch.zeros(n, 2, 3)
        theta[:, 0, 0] = torch.where(flips, -width, width)
        theta[:, 0, 2] = centre[:, 0] * (1 - width)
        theta[:, 1, 1] = height
        theta[:, 1, 2] = centre[:, 1] * (1 - height)
        return {"theta": theta}

    def apply(self, x: Tensor, params: dict[str, Tensor]) -> Tensor:
        """out = grid_sample(x, affine_grid(theta)) at size×size, bilinear, edges clamped."""
        theta = params["theta"].to(x.dtype)
        grid = F.affine_grid(theta, [x.shape[0], x.shape[1], self.size, self.size], align_corners=False)
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def build_augmentation(spec: DatasetSpec) -> Augmentation | None:
    """The training augmentation named by spec.augment, or None for "none"."""
    if spec.augment == "cifar":
        return PadCropFlip(pad=4)
    if spec.augment == "imagewang":
        return ResizedCropFlip(spec.image_size)
    return None
