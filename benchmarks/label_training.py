"""One model trained from labels with the book's recipe, for the scripts here that compare trainings."""

import torch

from bannet.data import DATASETS, DeviceLoader
from bannet.losses import build_loss
from bannet.models import build
from bannet.precision import resolve_precision
from bannet.train import TrainConfig, TrainResult, prepare_model, train_model


def train_from_labels(arch: str, dataset: str, data: tuple, epochs: int, seed: int, precision: str = "auto",
                      device: torch.device | None = None, compile: bool = False) -> TrainResult:
    """Train `arch` on (train images, train labels, test images, test labels) of `dataset` with SGD 0.9 Nesterov,
    wd 5e-4, lr 0.1 ×0.2 at 30/60/80% of `epochs`, batch 128, the data set's augmentation; seeded by `seed`."""
    device = device or torch.device("cpu")
    spec = DATASETS[dataset]
    config = TrainConfig(epochs=epochs, precision=precision, compile=compile)
    channels_last = resolve_precision(precision, device).channels_last
    train_images, train_labels, test_images, test_labels = data
    loader = lambda x, y, train: DeviceLoader(x, y, spec, config.batch_size, train, device, channels_last=channels_last,
                                              generator=torch.Generator().manual_seed(seed))
    torch.manual_seed(seed)
    model = prepare_model(build(arch, spec.num_classes), device, config)
    return train_model(model, build_loss("ce"), loader(train_images, train_labels, True),
                       loader(test_images, test_labels, False), config, device, progress=False)
