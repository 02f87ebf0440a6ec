"""Whole splits of the supported data sets, as torchvision Datasets or as uint8 tensors for the fast path."""

from pathlib import Path

import torch
from torch import Tensor
from torch.utils.data import Dataset
from torchvision import datasets

from ..settings import data_root
from .imagewang import ImageWangFolder, find_imagewang, load_imagewang_split
from .specs import get_spec

TORCHVISION_CLASSES = {"mnist": datasets.MNIST, "cifar10": datasets.CIFAR10, "cifar100": datasets.CIFAR100}
PREPARE_COMMAND = "python /work/shared/data/prepare.py --out {root}"


def torchvision_dataset(name: str, train: bool, root: str | Path | None = None, download: bool = True,
                        transform=None) -> Dataset:
    """The torchvision Dataset of a split (ImageWangFolder for imagewang: train/ or val/) under data_root(root)."""
    get_spec(name)
    base = data_root(root)
    if name == "imagewang":
        return ImageWangFolder(find_imagewang(base, download), "train" if train else "val", transform)
    try:
        return TORCHVISION_CLASSES[name](str(base), train=train, download=download, transform=transform)
    except RuntimeError as error:
        if download:
            raise
        raise FileNotFoundError(f"{name} not found under data root {base}; prepare it with "
                                f"`{PREPARE_COMMAND.format(root=base)} {name}` or pass download=True") from error


def load_split(name: str, train: bool, root: str | Path | None = None,
               download: bool = True) -> tuple[Tensor, Tensor]:
    """A whole split as (uint8 N×C×H×W images, int64 N labels).

    imagewang: train/ or val/, each image's shorter side resized to 128 and centre-cropped to 128×128,
    so the fast path's random-resized crops come from that square (torchvision's from the whole image).
    """
    spec = get_spec(name)
    if name == "imagewang":
        folder = find_imagewang(data_root(root), download)
        return load_imagewang_split(folder, "train" if train else "val", spec.image_size)
    dataset = torchvision_dataset(name, train, root, download)
    pixels = torch.as_tensor(dataset.data)
    images = pixels.unsqueeze(1) if pixels.ndim == 3 else pixels.permute(0, 3, 1, 2)
    return images.contiguous(), torch.as_tensor(dataset.targets, dtype=torch.int64)
