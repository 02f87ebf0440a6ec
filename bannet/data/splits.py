"""Whole splits of the supported data sets, as torchvision Datasets or as uint8 tensors for the fast path."""

import os
from pathlib import Path

import torch
from torch import Tensor
from torch.utils.data import Dataset

from .download import (
    DOWNLOAD_TIMEOUT_S,
    TORCHVISION_CLASSES,
    archives_in_place,
    check_official_files,
    download_deadline,
    not_found,
    official_files,
)
from .imagewang import ImageWangFolder, find_imagewang, load_imagewang_split
from .specs import get_spec

DATA_ENV = "BANNET_DATA"


def data_root(root: str | Path | None = None) -> Path:
    """The data root: `root` when given, else the BANNET_DATA environment variable, else ./data."""
    if root is not None:
        return Path(root).expanduser()
    env = os.environ.get(DATA_ENV)
    return Path(env).expanduser() if env else Path("data")


def torchvision_dataset(name: str, train: bool, root: str | Path | None = None, download: bool = True,
                        transform=None, timeout: float = DOWNLOAD_TIMEOUT_S) -> Dataset:
    """The torchvision Dataset of a split (ImageWangFolder for imagewang: train/ or val/) under data_root(root).

    Files already there must be the official ones (DamagedFile otherwise). download=False never uses the
    network: what is missing raises MissingFile, though official archives in place are still unpacked.
    A download waits at most timeout s at any one step, then raises MissingFile.
    """
    get_spec(name)
    base = data_root(root)
    if name == "imagewang":
        return ImageWangFolder(find_imagewang(base, download, timeout), "train" if train else "val", transform)
    check_official_files(name, base)
    dataset = TORCHVISION_CLASSES[name]
    # With its archives in place torchvision's download only unpacks them: no network is needed.
    if download or archives_in_place(name, base):
        with download_deadline(name, base, official_files(name, base), timeout):
            return dataset(str(base), train=train, download=True, transform=transform)
    try:
        return dataset(str(base), train=train, download=False, transform=transform)
    except RuntimeError as error:
        raise not_found(name, base, official_files(name, base)) from error


def load_split(name: str, train: bool, root: str | Path | None = None, download: bool = True,
               timeout: float = DOWNLOAD_TIMEOUT_S) -> tuple[Tensor, Tensor]:
    """A whole split as (uint8 N×C×H×W images, int64 N labels); download and timeout as in torchvision_dataset.

    imagewang: train/ or val/, each image's shorter side resized to 128 and centre-cropped to 128×128,
    so the fast path's random-resized crops come from that square (torchvision's from the whole image).
    """
    spec = get_spec(name)
    if name == "imagewang":
        folder = find_imagewang(data_root(root), download, timeout)
        return load_imagewang_split(folder, "train" if train else "val", spec.image_size)
    dataset = torchvision_dataset(name, train, root, download, timeout=timeout)
    pixels = torch.as_tensor(dataset.data)
    images = pixels.unsqueeze(1) if pixels.ndim == 3 else pixels.permute(0, 3, 1, 2)
    return images.contiguous(), torch.as_tensor(dataset.targets, dtype=torch.int64)
