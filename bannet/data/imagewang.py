"""ImageWang (Image网) from its official folder layout: train/<wnid>/, val/<wnid>/, unsup/.

Labels are indexed over the 20 TRAINING classes (sorted wnids of train/), so the 10 Imagewoof
classes of val/ land on the outputs they were trained on. (A plain ImageFolder on val/ would number
its own 10 folders 0–9 and score garbage.) Works on the official archives from fast.ai
(`imagewang-160/`, `imagewang-320/`, see download_imagewang) and on a rebuild at 128 pixels in the
same layout (`imagewang-128/`) alike.
"""

from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor
from torch.utils.data import Dataset

from ..errors import DamagedFile, InvalidInput, MissingFile
from .download import DOWNLOAD_TIMEOUT_S, download_deadline, not_found

SPLITS = ("train", "val", "unsup")
FOLDERS = ("imagewang-128", "imagewang-160", "imagewang-320")
OFFICIAL_SIZES = (160, 320)
ARCHIVE_URL = "https://s3.amazonaws.com/fast-ai-imageclas/imagewang-{size}.tgz"
IMAGE_SUFFIXES = (".jpeg", ".jpg", ".png")


def find_imagewang(root: str | Path, download: bool = False, timeout: float = DOWNLOAD_TIMEOUT_S) -> Path:
    """The ImageWang folder under root (root itself if it holds train/, else imagewang-128/-160/-320).

    When none exists and download is True, the official 160-px archive is downloaded into root
    (waiting at most timeout s at any one step); otherwise MissingFile.
    """
    root = Path(root)
    candidates = [root, *(root / name for name in FOLDERS)]
    for folder in candidates:
        if (folder / "train").is_dir():
            return folder
    if download:
        return download_imagewang(root, timeout=timeout)
    raise not_found("imagewang", root, official_files(root))


def official_files(root: Path) -> str:
    """Which official ImageWang files to put where under root, as a phrase for error messages."""
    return (f"the official imagewang-160/ or imagewang-320/ (fast.ai's imagewang-160.tgz or imagewang-320.tgz, "
            f"extracted) in {root}")


def download_imagewang(root: str | Path, size: int = 160, timeout: float = DOWNLOAD_TIMEOUT_S) -> Path:
    """Download and extract the official imagewang-{size}.tgz (size 160 or 320) into root; return its folder.

    A download that fails or waits more than timeout s at any one step raises MissingFile.
    """
    if size not in OFFICIAL_SIZES:
        raise InvalidInput(f"ImageWang size must be one of {OFFICIAL_SIZES} (the official archives), got {size}")
    from torchvision.datasets.utils import download_and_extract_archive

    root = Path(root)
    folder = root / f"imagewang-{size}"
    archive = root / f"imagewang-{size}.tgz"
    if (folder / "train").is_dir():
        return folder
    fresh = not archive.exists()
    try:
        with download_deadline("imagewang", root, official_files(root), timeout):
            download_and_extract_archive(ARCHIVE_URL.format(size=size), download_root=str(root))
    except MissingFile:
        # No md5 is published for these archives, so a partial download would later pass for a whole one.
        if fresh:
            archive.unlink(missing_ok=True)
        raise
    return folder


def imagewang_classes(root: str | Path) -> list[str]:
    """The 20 class wnids: the sorted sub-folders of train/; label i means classes[i].

    root is the ImageWang folder or a data root holding one (see find_imagewang).
    """
    train = find_imagewang(root) / "train"
    classes = sorted(p.name for p in train.iterdir() if p.is_dir())
    if not classes:
        raise MissingFile(f"{train} holds no class folders; put the official ImageWang train/ there")
    return classes


def imagewang_files(root: str | Path, split: str) -> tuple[list[Path], list[int] | None]:
    """The split's image paths in sorted order and their train-class labels (None for unsup)."""
    if split not in SPLITS:
        raise InvalidInput(f"split must be one of {SPLITS}, got {split!r}")
    folder = find_imagewang(root)
    where = folder / split
    if not where.is_dir():
        raise MissingFile(f"ImageWang split folder {where} is missing; put the official {split}/ there")
    if split == "unsup":
        files = _images_in(where)
        return files, None
    classes = imagewang_classes(folder)
    paths: list[Path] = []
    labels: list[int] = []
    for class_dir in sorted(p for p in where.iterdir() if p.is_dir()):
        if class_dir.name not in classes:
            raise DamagedFile(f"{class_dir}: wnid {class_dir.name} is not one of the {len(classes)} training "
                              f"classes in {folder / 'train'}; replace {where} with the official {split}/")
        files = _images_in(class_dir)
        paths += files
        labels += [classes.index(class_dir.name)] * len(files)
    if not paths:
        raise MissingFile(f"{where} holds no class folders; put the official {split}/ there")
    return paths, labels


def _images_in(directory: Path) -> list[Path]:
    """The sorted image files directly in directory; MissingFile when there are none."""
    files = sorted(p for p in directory.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise MissingFile(f"{directory} holds no images ({', '.join(IMAGE_SUFFIXES)}); "
                          "put the official ImageWang images there or remove the folder")
    return files


class ImageWangFolder(Dataset):
    """A torch Dataset over one ImageWang split: (transform(image), label) for train/val, image for unsup."""

    def __init__(self, root: str | Path, split: str, transform=None) -> None:
        self.folder = find_imagewang(root)
        self.split = split
        self.classes = imagewang_classes(self.folder)
        self.paths, self.labels = imagewang_files(self.folder, split)
        self.transform = transform

    def __len__(self) -> int:
        """Number of images in the split."""
        return len(self.paths)

    def __getitem__(self, i: int):
        """Image i as RGB (transformed when a transform is set), with its label unless unsup."""
        with Image.open(self.paths[i]) as im:
            image = im.convert("RGB")
        if self.transform is not None:
            image = self.transform(image)
        return image if self.labels is None else (image, self.labels[i])


def square_pixels(path: str | Path, size: int) -> np.ndarray:
    """uint8 3×size×size: shorter side resized to size (bilinear), then the centre size×size crop."""
    with Image.open(path) as im:
        im.draft("RGB", (size, size))
        image = im.convert("RGB")
    w, h = image.size
    if min(w, h) != size:
        short, long = (w, h) if w <= h else (h, w)
        scaled = int(size * long / short)
        image = image.resize((size, scaled) if w <= h else (scaled, size), Image.Resampling.BILINEAR)
        w, h = image.size
    left, top = int(round((w - size) / 2.0)), int(round((h - size) / 2.0))
    image = image.crop((left, top, left + size, top + size))
    return np.asarray(image).transpose(2, 0, 1)


def load_imagewang_split(root: str | Path, split: str, size: int = 128,
                         workers: int = 0) -> tuple[Tensor, Tensor | None]:
    """Decode a split once into uint8 N×3×size×size (see square_pixels) and int64 labels (None for unsup).

    workers > 0 decodes in that many processes; 0 decodes in this process.
    """
    paths, labels = imagewang_files(root, split)
    if workers > 0:
        with ProcessPoolExecutor(workers) as pool:
            arrays = list(pool.map(square_pixels, paths, [size] * len(paths), chunksize=64))
    else:
        arrays = [square_pixels(p, size) for p in paths]
    images = torch.from_numpy(np.stack(arrays))
    return images, None if labels is None else torch.tensor(labels, dtype=torch.int64)

