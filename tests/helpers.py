"""Plain functions the tests share: the real data root (required under CI, skipped elsewhere), a repository script
imported as a module, a tiny learnable data set, a tiny ImageWang folder, a chapter's answer."""

import json
import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from bannet.data import DATASETS, StudyData
from bannet.presets import Preset

# The converged CIFAR-10 study's first four seeds (teacher and ban-1) by the recipe it had before lookahead: a fixed
# study in the middle of its recording, for the tests of what a chapter shows while pairs are still missing.
CIFAR10_WITHOUT_LOOKAHEAD = (Path(__file__).resolve().parent.parent / "benchmarks" / "results"
                             / "cifar10-airbench-without-lookahead")
_MARKERS = {"mnist": "MNIST/raw", "cifar10": "cifar-10-batches-py", "cifar100": "cifar-100-python"}


def real_data_root(name: str) -> Path:
    """$BANNET_DATA when it holds the set; under CI a missing set fails, elsewhere it skips."""
    root = os.environ.get("BANNET_DATA")
    if root and (Path(root) / _MARKERS[name]).is_dir():
        return Path(root)
    message = f"{name} not found under BANNET_DATA={root!r}; set BANNET_DATA to a folder holding the official files"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def tiny_mnist_like(train_size: int = 256, test_size: int = 128, seed: int = 0) -> StudyData:
    """A learnable 10-class set of 28×28 uint8 images: class c lights up horizontal band c, plus noise."""
    generator = torch.Generator().manual_seed(seed)

    def split(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        labels = torch.randint(0, 10, (n,), generator=generator)
        images = torch.randint(0, 60, (n, 1, 28, 28), generator=generator, dtype=torch.uint8)
        for c in range(10):
            images[labels == c, :, 2 * c + 3: 2 * c + 6, :] = 255
        return images, labels

    return StudyData(DATASETS["mnist"], *split(train_size), *split(test_size))


def tiny_cifar_like(train_size: int = 256, test_size: int = 128, seed: int = 0) -> StudyData:
    """A learnable 10-class set of 32×32 colour uint8 images: class c lights up a bar in row band c, and only the
    left half of it (so a mirror changes the image), plus noise."""
    generator = torch.Generator().manual_seed(seed)

    def split(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        labels = torch.randint(0, 10, (n,), generator=generator)
        images = torch.randint(0, 60, (n, 3, 32, 32), generator=generator, dtype=torch.uint8)
        for c in range(10):
            images[labels == c, c % 3, 3 * c + 1: 3 * c + 3, :20] = 255
        return images, labels

    return StudyData(DATASETS["cifar10"], *split(train_size), *split(test_size))


def write_tiny_imagewang(root: Path, train_per_class: int = 6, val_per_class: int = 4, unsup: int = 12,
                         classes: int = 4, seed: int = 0) -> Path:
    """root/imagewang-128/: train/<wnid>/ of `classes` classes, val/ of the last half of them, unsup/ (no labels)."""
    rng = np.random.default_rng(seed)
    folder = root / "imagewang-128"
    wnids = [f"n{index:08d}" for index in range(classes)]

    def write(directory: Path, count: int) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        for i in range(count):
            height, width = rng.choice([16, 20, 24], size=2)
            Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8)).save(directory / f"{i}.JPEG")

    for wnid in wnids:
        write(folder / "train" / wnid, train_per_class)
    for wnid in wnids[classes // 2:]:
        write(folder / "val" / wnid, val_per_class)
    write(folder / "unsup", unsup)
    return root


def paper_design(preset: Preset) -> Preset:
    """The preset with the paper's models only: no controls and no extra temperatures (the shape most tests use)."""
    return replace(preset, independent_models=0, equal_compute=False, label_smoothing=False, temperatures=())


def chapter_answer(notebook: str) -> str:
    """A chapter's answer: its markdown from the heading '## The answer' to the next '## ' heading."""
    path = Path(__file__).resolve().parent.parent / "notebooks" / f"{notebook}.ipynb"
    cells = json.loads(path.read_text())["cells"]
    markdown = "\n\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    return markdown.split("## The answer", 1)[1].split("\n## ", 1)[0]
