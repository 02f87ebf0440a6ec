"""The plain input pipeline every BAN repository uses: torchvision Dataset + PIL transforms + DataLoader."""

from pathlib import Path

import torch
from torch.utils.data import DataLoader
from torchvision import transforms

from .specs import DatasetSpec, get_spec
from .splits import torchvision_dataset


def spec_transform(spec: DatasetSpec, train: bool) -> transforms.Compose:
    """PIL → normalised tensor: the spec's training augmentation when train, then ToTensor and Normalize.

    cifar: RandomCrop(32, padding=4) + RandomHorizontalFlip; imagewang: RandomResizedCrop(128,
    scale=(0.35, 1)) + RandomHorizontalFlip for training, Resize(128) + CenterCrop(128) for evaluation.
    """
    steps: list = []
    if spec.augment == "cifar" and train:
        steps += [transforms.RandomCrop(spec.image_size, padding=4), transforms.RandomHorizontalFlip()]
    elif spec.augment == "imagewang":
        steps += ([transforms.RandomResizedCrop(spec.image_size, scale=(0.35, 1.0)),
                   transforms.RandomHorizontalFlip()] if train
                  else [transforms.Resize(spec.image_size), transforms.CenterCrop(spec.image_size)])
    steps += [transforms.ToTensor(), transforms.Normalize(spec.mean, spec.std)]
    return transforms.Compose(steps)


def torchvision_loader(name: str, train: bool, batch_size: int, root: str | Path | None = None,
                       workers: int = 0) -> DataLoader:
    """DataLoader over a split's torchvision Dataset with spec_transform; shuffle and drop_last are `train`."""
    spec = get_spec(name)
    dataset = torchvision_dataset(name, train, root, transform=spec_transform(spec, train))
    return DataLoader(dataset, batch_size=batch_size, shuffle=train,
                      drop_last=train, num_workers=workers, pin_memory=torch.cuda.is_available(),
                      persistent_workers=workers > 0)
