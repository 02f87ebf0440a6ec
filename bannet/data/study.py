"""A study's data: its splits cut to the preset's held-out part, subset sizes and image-size cap, and the unlabelled
images."""

from dataclasses import dataclass, replace
from pathlib import Path

import torch
from torch import nn

from ..presets import Preset
from .holdout import holdout_indices
from .imagewang import find_imagewang, load_imagewang_split
from .specs import DATASETS, DatasetSpec
from .splits import data_root, load_split


@dataclass
class StudyData:
    """A study's two splits as uint8 images and int64 labels, with the data set's spec, the unlabelled images (no
    labels at all) when a model of the study learns from them, and the held-out part of the training split when the
    preset sets one aside (never trained on)."""

    spec: DatasetSpec
    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    unlabelled_images: torch.Tensor | None = None
    holdout_images: torch.Tensor | None = None
    holdout_labels: torch.Tensor | None = None


def _kept(n: int, size: int | None) -> slice | torch.Tensor:
    """The indices of a fixed random subset of n items (the same on every machine), or all when size is None."""
    if size is None or size >= n:
        return slice(None)
    return torch.randperm(n, generator=torch.Generator().manual_seed(0))[:size]


def _subset(images: torch.Tensor, labels: torch.Tensor, size: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    """A fixed random subset of images and their labels, or everything when size is None."""
    keep = _kept(len(labels), size)
    return images[keep], labels[keep]


def _downscaled(images: torch.Tensor, size: int | None) -> torch.Tensor:
    """uint8 images resized to size×size (bilinear with antialiasing) when larger; unchanged otherwise."""
    if size is None or images.shape[-1] <= size:
        return images
    chunks = [nn.functional.interpolate(chunk.float(), size=(size, size), mode="bilinear", antialias=True)
              for chunk in images.split(1024)]  # bounded float copies of the input
    return torch.cat([chunk.round_().clamp_(0, 255).to(torch.uint8) for chunk in chunks])


def _load_unlabelled(preset: Preset, root: str | Path | None, download: bool) -> torch.Tensor:
    """The data set's unlabelled images (ImageWang's unsup/, labels never read), capped at unlabelled_subset."""
    if preset.dataset != "imagewang":
        raise ValueError(f"preset {preset.name!r} asks for unlabelled images, but {preset.dataset} has no "
                         "unlabelled split (only imagewang does: unsup/)")
    folder = find_imagewang(data_root(root), download)
    images, _ = load_imagewang_split(folder, "unsup", DATASETS["imagewang"].image_size)  # labels: None
    return images[_kept(len(images), preset.unlabelled_subset)]


def _split_off_holdout(images: torch.Tensor, labels: torch.Tensor,
                       per_class: int | None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None,
                                                       torch.Tensor | None]:
    """(training images, labels, held-out images, labels): `per_class` images of each class set aside
    (holdout_indices), or none when per_class is None."""
    if per_class is None:
        return images, labels, None, None
    kept, held_out = holdout_indices(labels, per_class)
    return images[kept], labels[kept], images[held_out], labels[held_out]


def load_study_data(preset: Preset, root: str | Path | None = None, download: bool = True) -> StudyData:
    """Load the preset's data set, set its held-out part aside (the training subset is drawn from the rest), apply
    its subset sizes and its image-size cap, and load the unlabelled split if used."""
    spec = DATASETS[preset.dataset]
    unlabelled = _load_unlabelled(preset, root, download) if preset.unlabelled else None
    images, labels, holdout_images, holdout_labels = _split_off_holdout(
        *load_split(preset.dataset, True, root, download), preset.holdout_per_class)
    train_images, train_labels = _subset(images, labels, preset.train_subset)
    test_images, test_labels = _subset(*load_split(preset.dataset, False, root, download), preset.test_subset)
    size = preset.max_image_size
    if size is not None and spec.image_size > size:
        spec = replace(spec, image_size=size)
    shrunk = [None if split is None else _downscaled(split, size) for split in (unlabelled, holdout_images)]
    return StudyData(spec, _downscaled(train_images, size), train_labels, _downscaled(test_images, size), test_labels,
                     *shrunk, holdout_labels)
