"""Measures of a study beyond test error, from its stored logits: how diverse an ensemble's members are, where a
model's predictions go when the test set holds only some of its classes, and how sure a model is."""

import itertools
import math
from collections.abc import Sequence

import numpy as np
import torch

from bannet.ensembles import ensemble_probabilities, top1_error_pct
from bannet.formatting import plus_minus, table_rows
from bannet.records import Study
from bannet.stats import mean_ci


def disagreement_pct(members: list[torch.Tensor]) -> float:
    """Mean over pairs of members of the share (%) of test images on which their top classes differ."""
    predictions = [z.argmax(1) for z in members]
    pairs = list(itertools.combinations(predictions, 2))
    return 100.0 * sum((a != b).double().mean().item() for a, b in pairs) / len(pairs)


def ensemble_gain(members: list[torch.Tensor], labels: torch.Tensor) -> float:
    """The members' mean test error minus the error of their mean softmax, in points: what averaging adds."""
    mean_member = sum(top1_error_pct(z, labels) for z in members) / len(members)
    return mean_member - top1_error_pct(ensemble_probabilities(members), labels)


def diversity_table(study: Study, ensembles: dict[str, list[str]]) -> str:
    """Markdown: for each named ensemble of models of one seed, mean ± CI over seeds of its members' mean error,
    their pairwise disagreement and its gain over the mean member; ensembles whose members differ in strength differ
    in gain for that reason too, so the members' error stands beside it."""
    header = ["ensemble", "members", "seeds", "mean member error %", "pairwise disagreement %",
              "gain over the mean member, points"]
    rows = []
    for name, members in ensembles.items():
        seeds = [s for s in study.seeds if all(m in study.models[s] for m in members)]
        outputs = [[study.models[s][m] for m in members] for s in seeds]
        member_error = [sum(m.error_pct for m in models) / len(models) for models in outputs]
        disagreement = [disagreement_pct([m.logits for m in models]) for models in outputs]
        gain = [ensemble_gain([m.logits for m in models], models[0].labels) for models in outputs]
        rows.append([name, ", ".join(members), str(len(seeds)), plus_minus(*mean_ci(member_error)),
                     plus_minus(*mean_ci(disagreement)), plus_minus(*mean_ci(gain))])
    return table_rows(header, rows)


def unlabelled_share_pct(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """The share (%) of predictions that go to classes no test label names."""
    return 100.0 * (~torch.isin(logits.argmax(1), labels.unique())).double().mean().item()


def prediction_shares(study: Study) -> tuple[dict[str, dict[int, float]], float]:
    """Per model and seed, the share (%) of test predictions that go to classes the test set does not hold; and the
    correlation over every model and seed of the 20-way accuracy with the share that goes to the test set's classes."""
    shares = {name: {s: unlabelled_share_pct(m.logits, m.labels) for s in study.seeds
                     if (m := study.models[s].get(name)) is not None} for name in study.model_names()}
    pairs = [(100.0 - study.models[s][name].error_pct, 100.0 - share)
             for name, by_seed in shares.items() for s, share in by_seed.items()]
    accuracy, inside = np.array(pairs).T
    r = float(np.corrcoef(accuracy, inside)[0, 1]) if accuracy.std() > 0 and inside.std() > 0 else math.nan
    return shares, r


def share_table(study: Study) -> str:
    """Markdown: per model, the share (%) of test predictions that go to classes the test set does not hold (mean ±
    CI over seeds), and the correlation of the 20-way accuracy with the share that goes to the test set's classes."""
    shares, r = prediction_shares(study)
    rows = [[name, str(len(seeds)), plus_minus(*mean_ci(list(seeds.values())))] for name, seeds in shares.items()]
    table = table_rows(["model", "seeds", "predictions outside the test set's classes %"], rows)
    return table + (f"\n\nCorrelation over every model and seed of the accuracy over all outputs with the "
                    f"share of predictions inside the test set's classes: r = {r:.2f}.")


def mean_max_probability(logits: torch.Tensor) -> float:
    """Mean over images of max_i softmax(z)_i (float64): how sure a model is of what it predicts."""
    return logits.double().softmax(1).amax(1).mean().item()


def teacher_confidence(study: Study, model: str = "teacher") -> str:
    """Markdown: the model's mean largest probability and mean non-top mass on its training images (from its record)
    and on the test images (from its stored logits), per seed: what its students learn from, and what it shows."""
    header = ["seed", "train: mean max p", "train: mean non-top mass", "test: mean max p", "test error %"]
    rows = []
    for seed in study.seeds:
        entry = study.models[seed].get(model)
        if entry is None:
            continue
        train = entry.record.get("train_confidence")
        top = mean_max_probability(entry.logits)
        shown = ([f"{train['mean_max_prob']:.3f}", f"{train['mean_non_top_mass']:.3f}"] if train
                 else ["not recorded", ""])
        rows.append([str(seed), *shown, f"{top:.3f}", f"{entry.error_pct:.2f}"])
    return table_rows(header, rows)


def confidence_on_test(study: Study, models: Sequence[str], confidence: float = 0.95) -> str:
    """Markdown: each model's mean largest probability on the test images, mean ± CI over its seeds (models without a
    record are left out)."""
    rows = []
    for name in models:
        values = [mean_max_probability(study.models[s][name].logits) for s in study.seeds if name in study.models[s]]
        if values:
            rows.append([name, str(len(values)), plus_minus(*mean_ci(values, confidence), digits=3)])
    return table_rows(["model", "seeds", "test: mean max p"], rows)


FIT_MEASURES = {"plain test error %": "test_error_pct", "un-augmented training error %": "train_error_plain_pct",
                "test error with flip TTA % (apart)": "test_error_tta_pct"}


def fit_table(study: Study, models: Sequence[str], confidence: float = 0.95) -> str:
    """Markdown: each model's plain test error beside its error on the un-augmented training images (how far it fits
    what it learns from) and, labelled apart, its test error with flip test-time augmentation; mean ± CI over the
    seeds whose records hold the measure ("not recorded" where none does)."""
    rows = []
    for name in models:
        entries = [study.models[s][name].record for s in study.seeds if name in study.models[s]]
        if not entries:
            continue
        cells = [_mean_of_recorded([record.get(key) for record in entries], confidence)
                 for key in FIT_MEASURES.values()]
        rows.append([name, str(len(entries)), *cells])
    return table_rows(["model", "seeds", *FIT_MEASURES], rows)


def _mean_of_recorded(values: list[float | None], confidence: float) -> str:
    """mean ± CI of the recorded values, with their count when some records lack the measure; "not recorded" if all."""
    found = [v for v in values if v is not None]
    if not found:
        return "not recorded"
    counted = f" ({len(found)} of {len(values)} seeds)" if len(found) != len(values) else ""
    return plus_minus(*mean_ci(found, confidence)) + counted
