"""One model trained from labels with a preset's recipe, for the scripts here that compare trainings."""

from dataclasses import replace

import torch

from bannet.data import DeviceLoader, StudyData
from bannet.losses import build_loss
from bannet.models import build, needs_training_images
from bannet.precision import resolve_precision
from bannet.presets import Preset
from bannet.recipes import recipe_for
from bannet.train import TrainResult, prepare_model, train_model


def train_from_labels(arch: str, preset: Preset, data: StudyData, epochs: int, seed: int, precision: str = "auto",
                      device: torch.device | None = None, compile: bool = False) -> TrainResult:
    """Train `arch` on `data` (loaded for `preset`) with the preset's recipe compressed to `epochs` (SGD 0.9 Nesterov,
    wd 5e-4, the preset's lr ×0.2 at 30/60/80% and batch size) and the data set's augmentation; seeded by `seed`."""
    device = device or torch.device("cpu")
    config = recipe_for(replace(preset, epochs=epochs), precision=precision, compile=compile)
    channels_last = resolve_precision(precision, device).channels_last

    def loader(images: torch.Tensor, labels: torch.Tensor, train: bool) -> DeviceLoader:
        return DeviceLoader(images, labels, data.spec, config.batch_size, train, device, channels_last=channels_last,
                            generator=torch.Generator().manual_seed(seed))

    torch.manual_seed(seed)
    model = prepare_model(build(arch, data.spec.num_classes), device, config)
    if needs_training_images(model):
        raise ValueError(f"{arch} is fitted to the training images before it trains: pilot it with "
                         "benchmarks/recipe_pilot.py, which trains it as a study does")
    return train_model(model, build_loss("ce"), loader(data.train_images, data.train_labels, True),
                       loader(data.test_images, data.test_labels, False), config, device, progress=False)
