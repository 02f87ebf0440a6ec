"""A study's splits resident on the device, and the loaders its models train, evaluate and are fitted with."""

import torch

from bannet import data as bdata
from bannet import distributed
from bannet.data.study import StudyData
from bannet.errors import InvalidInput
from bannet.models import FIT_IMAGES
from bannet.precision import Precision
from bannet.recipes import Recipe


def check_one_batch(data: StudyData, batch_size: int) -> None:
    """Before any training: the training split, and the unlabelled one when loaded, hold at least one batch
    (training drops the last partial batch, so a smaller split would train on nothing)."""
    unlabelled = None if data.unlabelled_images is None else len(data.unlabelled_images)
    for split, count in (("training", len(data.train_labels)), ("unlabelled", unlabelled)):
        if count is not None and count < batch_size:
            raise InvalidInput(f"the {split} split has {count} images, fewer than one batch of {batch_size}: "
                               "give the study more images or a smaller batch size")


class StudyLoaders:
    """Loaders over one copy of the study's splits on the device: under torchrun a training loader yields this
    rank's share of each global batch (the recipe's batch), and evaluation loaders the whole split."""

    def __init__(self, data: StudyData, device: torch.device, recipe: Recipe, precision: Precision) -> None:
        check_one_batch(data, recipe.batch_size)
        self.data, self.device, self.recipe, self.precision = data, device, recipe, precision
        self.per_rank_batch = distributed.per_rank_batch(recipe.batch_size)
        self._train = data.train_images.to(device)
        self._test = data.test_images.to(device)
        self._unlabelled = None if data.unlabelled_images is None else data.unlabelled_images.to(device)
        self._holdout = None if data.holdout_images is None else data.holdout_images.to(device)

    def _loader(self, images: torch.Tensor, labels: torch.Tensor, train: bool, seed: int) -> bdata.DeviceLoader:
        batch, rank, world = ((self.per_rank_batch, distributed.rank(), distributed.world_size()) if train
                              else (self.recipe.batch_size, 0, 1))  # rank 0 evaluates the whole split
        return bdata.DeviceLoader(images, labels, self.data.spec, batch, train, self.device,
                                  generator=torch.Generator().manual_seed(seed), rank=rank, world_size=world,
                                  channels_last=self.precision.channels_last,
                                  augmentation=self.recipe.augmentation(self.data.spec) if train else None)

    def train(self, seed: int) -> bdata.DeviceLoader:
        """The augmented training loader of a model, its order and augmentation drawn from `seed`."""
        return self._loader(self._train, self.data.train_labels.to(self.device), True, seed)

    def test(self) -> bdata.DeviceLoader:
        """The test split in stored order, not augmented."""
        return self._loader(self._test, self.data.test_labels.to(self.device), False, 0)

    def plain_train(self, count: int | None = None) -> bdata.DeviceLoader:
        """The first `count` training images (all when None) in stored order, normalised, not augmented."""
        return self._loader(self._train[:count], self.data.train_labels[:count].to(self.device), False, 0)

    def holdout(self) -> bdata.DeviceLoader:
        """The held-out part of the training split in stored order, not augmented."""
        if self._holdout is None:
            raise ValueError("the study's data has no held-out part (its preset sets none aside)")
        return self._loader(self._holdout, self.data.holdout_labels.to(self.device), False, 0)

    def fitting_images(self) -> torch.Tensor:
        """The normalised, un-augmented training images a model that needs them is fitted on (never test images)."""
        return torch.cat([x for x, _ in self.plain_train(FIT_IMAGES)])

    @property
    def unlabelled_size(self) -> int:
        """How many unlabelled images the study holds (0 when none)."""
        return 0 if self._unlabelled is None else len(self._unlabelled)

    def unlabelled_batches(self, seed: int) -> bdata.EndlessBatches:
        """Endless augmented batches of the unlabelled images (this rank's shard of a fresh permutation per pass)."""
        if self._unlabelled is None:
            raise ValueError("a model learns from unlabelled images, but the StudyData holds none (load it with "
                             "load_study_data)")
        placeholders = torch.full((len(self._unlabelled),), -1, dtype=torch.int64, device=self.device)  # never read
        return bdata.EndlessBatches(self._loader(self._unlabelled, placeholders, True, seed))
