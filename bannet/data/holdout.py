"""A held-out part of a training split: a fixed number of labelled images per class, never trained on, on which a
pilot selects its settings instead of on the test set."""

import torch
from torch import Tensor

from ..errors import InvalidInput

HOLDOUT_SEED = 0  # the generator's seed: the same held-out images for every model, seed and machine


def holdout_indices(labels: Tensor, per_class: int) -> tuple[Tensor, Tensor]:
    """(training indices, held-out indices), each ascending: `per_class` images of every class the labels hold, drawn
    at random per class (in class order) from a generator seeded with HOLDOUT_SEED; InvalidInput, before any
    training, when per_class is not a positive integer or would leave a class no training image."""
    if isinstance(per_class, bool) or not isinstance(per_class, int) or per_class < 1:
        raise InvalidInput(f"holdout_per_class must be a positive integer or None, got {per_class!r}")
    classes, counts = labels.unique(return_counts=True)
    short = [f"class {c} has {n}" for c, n in zip(classes.tolist(), counts.tolist()) if n <= per_class]
    if short:
        raise InvalidInput(f"holdout_per_class {per_class} needs more than {per_class} training images in every "
                           f"class, but {', '.join(short)}: hold out fewer images per class")
    generator = torch.Generator().manual_seed(HOLDOUT_SEED)
    held_out = torch.cat([members[torch.randperm(len(members), generator=generator)[:per_class]]
                          for members in ((labels == c).nonzero().squeeze(1) for c in classes)])
    kept = torch.ones(len(labels), dtype=torch.bool)
    kept[held_out] = False
    return kept.nonzero().squeeze(1), held_out.sort().values
