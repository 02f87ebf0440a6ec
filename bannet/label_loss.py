"""The loss of a study's models trained on labels, with the settings its records state: plain cross-entropy, or
logit-adjusted cross-entropy with the class priors of the study's training labels (Menon et al. 2021)."""

from bannet.data.study import StudyData
from bannet.errors import InvalidInput
from bannet.losses import build_loss, class_priors
from bannet.presets import Preset


def label_loss_settings(preset: Preset, data: StudyData) -> dict:
    """The keyword arguments of the preset's label loss: none for "ce"; for "logit-adjusted", its strength τ and the
    priors π_c = n_c / N of the N training labels (n_c of class c; held-out images are not training images), one
    per output. InvalidInput before any training when a class has no training image (log π_c would be −∞) or τ is
    not a finite number >= 0."""
    if preset.label_loss == "ce":
        return {}
    priors = class_priors(data.train_labels, data.spec.num_classes)
    empty = (priors == 0).nonzero().squeeze(1).tolist()
    if empty:
        raise InvalidInput(f"preset {preset.name}: logit adjustment needs training images of every class, but "
                           f"{len(empty)} of its {data.spec.num_classes} classes have none "
                           f"({', '.join(map(str, empty))}): give the study more training images or logit_adjustment 0")
    settings = {"tau": preset.logit_adjustment, "priors": priors.tolist()}
    try:
        build_loss(preset.label_loss, **settings)
    except ValueError as error:
        raise InvalidInput(f"preset {preset.name}: logit_adjustment: {error}") from error
    return settings
