"""What bannet knows about each data set: classes, image geometry, normalisation and augmentation."""

from dataclasses import dataclass
from typing import Literal

Augment = Literal["cifar", "imagewang", "none"]


@dataclass(frozen=True)
class DatasetSpec:
    """A data set's shape and preprocessing: x_normalised = (x / 255 - mean[c]) / std[c] per channel c.

    `augment` names the training augmentation: "cifar" = zero-pad 4 pixels, random 32×32 crop,
    horizontal flip (the WRN / BAN recipe); "imagewang" = random-resized crop (area 0.35–1,
    aspect 3/4–4/3) to `image_size`, horizontal flip; "none" = no augmentation.
    """

    name: str
    num_classes: int
    channels: int
    image_size: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    augment: Augment

    def __post_init__(self) -> None:
        if len(self.mean) != self.channels or len(self.std) != self.channels:
            raise ValueError(f"DatasetSpec {self.name!r}: mean and std need {self.channels} entries, "
                             f"got {len(self.mean)} and {len(self.std)}")
        if self.augment not in ("cifar", "imagewang", "none"):
            raise ValueError(f"DatasetSpec {self.name!r}: augment must be 'cifar', 'imagewang' or 'none', "
                             f"got {self.augment!r}")


IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

DATASETS: dict[str, DatasetSpec] = {
    "mnist": DatasetSpec("mnist", 10, 1, 28, (0.1307,), (0.3081,), "none"),
    "cifar10": DatasetSpec("cifar10", 10, 3, 32, (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616), "cifar"),
    "cifar100": DatasetSpec("cifar100", 100, 3, 32, (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762), "cifar"),
    "imagewang": DatasetSpec("imagewang", 20, 3, 128, IMAGENET_MEAN, IMAGENET_STD, "imagewang"),
}


def get_spec(name: str) -> DatasetSpec:
    """The DatasetSpec registered under `name`; ValueError listing the known names otherwise."""
    if name not in DATASETS:
        raise ValueError(f"unknown data set {name!r}; known: {', '.join(sorted(DATASETS))}")
    return DATASETS[name]
