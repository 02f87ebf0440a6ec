"""What a finished model is measured on besides its plain test logits, recorded beside them."""

import torch
from torch import nn

from bannet import records
from bannet.recipes import Recipe
from bannet.study_loaders import StudyLoaders
from bannet.train import evaluate, tta_probabilities


def holdout_errors(model: nn.Module, loaders: StudyLoaders, recipe: Recipe) -> dict:
    """Top-1 error (%, argmax over every output) on the held-out training images: on all of them (an equal number
    per class), and on those of the classes the test set holds (ImageWang's ten dog breeds), the held-out twin of
    the test measure; None when no held-out image is of those classes."""
    _, _, logits, labels = evaluate(model, loaders.holdout(), loaders.device, recipe)
    predictions = logits.argmax(1)
    tested = torch.isin(labels, loaders.data.test_labels.unique())
    return {"holdout_error_pct": records.error_pct(predictions, labels),
            "holdout_test_classes_error_pct": (records.error_pct(predictions[tested], labels[tested])
                                               if tested.any() else None)}


def final_measures(model: nn.Module, loaders: StudyLoaders, recipe: Recipe, teaches: bool) -> dict:
    """Its error on the un-augmented training images (which regime it is in); their mean largest softmax probability
    and non-top mass when it teaches (what its students learn from); the test error under the recipe's test-time
    augmentation, recorded apart from the plain error every table compares; the held-out errors when the study sets
    a held-out part aside (what a pilot selects on)."""
    _, accuracy, logits, _ = evaluate(model, loaders.plain_train(), loaders.device, recipe)
    measured: dict = {"train_error_plain_pct": 100.0 * (1.0 - accuracy)}
    if teaches:
        top = logits.softmax(1).amax(1).double()
        measured["train_confidence"] = {"mean_max_prob": top.mean().item(),
                                        "mean_non_top_mass": (1 - top).mean().item(),
                                        "images": len(top), "augmentation": "none"}
    if recipe.tta_views:
        predictions = tta_probabilities(model, loaders.test(), loaders.device, recipe).argmax(1)
        measured["test_error_tta_pct"] = records.error_pct(predictions, loaders.data.test_labels)
        measured["tta"] = {"views": ["plain", *recipe.tta_views], "combined": "mean of the views' softmax"}
    if loaders.data.holdout_labels is not None:
        measured.update(holdout_errors(model, loaders, recipe))
    return measured
