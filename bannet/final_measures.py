"""What a finished model is measured on besides its plain test logits, recorded beside them."""

from torch import nn

from bannet import records
from bannet.recipes import Recipe
from bannet.study_loaders import StudyLoaders
from bannet.train import evaluate, tta_probabilities


def final_measures(model: nn.Module, loaders: StudyLoaders, recipe: Recipe, teaches: bool) -> dict:
    """Its error on the un-augmented training images (which regime it is in); their mean largest softmax probability
    and non-top mass when it teaches (what its students learn from); the test error under the recipe's test-time
    augmentation, recorded apart from the plain error every table compares."""
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
    return measured
