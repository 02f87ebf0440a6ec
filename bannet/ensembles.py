"""The rows of a study's table as test errors per seed, from the stored logits: every trained model, the born-again
ensembles BANE-k, the independent ensembles Ens-k, and one model averaged over disjoint groups of seeds."""

import math
from collections.abc import Sequence

import torch

from bannet import paper, records, row_names
from bannet.records import Study


def ensemble_probabilities(logits: Sequence[torch.Tensor]) -> torch.Tensor:
    """(1/k) Σ_j softmax(z_j): the BANE / independent-ensemble prediction."""
    if not logits:
        raise ValueError("an ensemble needs at least one member")
    shapes = {tuple(z.shape) for z in logits}
    if len(shapes) != 1:
        raise ValueError(f"ensemble members disagree in shape: {sorted(shapes)}")
    return torch.stack([z.float().softmax(1) for z in logits]).mean(0)


def top1_error_pct(scores: torch.Tensor, labels: torch.Tensor) -> float:
    """Top-1 test error in percent of logits or probabilities against labels."""
    if scores.shape[0] != labels.shape[0]:
        raise ValueError(f"{scores.shape[0]} predictions for {labels.shape[0]} labels")
    return records.error_pct(scores.argmax(1), labels)


def study_labels(study: Study) -> torch.Tensor:
    """The test labels every model of the study was evaluated on."""
    return next(iter(study.models[study.seeds[0]].values())).labels


def among_labelled_classes(scores: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """The scores with every class that no test label names set to −∞: argmax then picks among the test set's
    classes (ImageWang's 10 dog breeds of its 20 outputs), whatever prior the model learnt for the others."""
    kept = torch.full_like(scores, -math.inf, dtype=torch.float32)
    present = labels.unique()
    kept[:, present] = scores[:, present].float()
    return kept


def generations(study: Study) -> int:
    """K, the number of born-again generations recorded."""
    return max((k for name in study.model_names() if (k := row_names.generation_number(name))), default=0)


def _ensemble_error(members: list[records.SeedModel], labelled_classes_only: bool) -> float:
    """Error (%) of the members' mean softmax, optionally among the test set's classes only."""
    labels = members[0].labels
    probabilities = ensemble_probabilities([m.logits for m in members])
    if labelled_classes_only:
        probabilities = among_labelled_classes(probabilities, labels)
    return top1_error_pct(probabilities, labels)


def seed_ensemble_errors(study: Study, model: str, k: int, labelled_classes_only: bool = False) -> dict[int, float]:
    """Error (%) of the mean softmax of `model` over disjoint groups of k consecutive seeds, keyed by their first seed.

    Disjoint groups share no member, so their errors are independent samples and their interval is
    honest; overlapping (cyclic) windows would reuse each model k times and narrow it spuriously.
    Seeds left over after the last full group are not used.
    """
    having = [s for s in study.seeds if model in study.models[s]]
    groups = [having[i:i + k] for i in range(0, len(having) - k + 1, k)]
    return {group[0]: _ensemble_error([study.models[s][model] for s in group], labelled_classes_only)
            for group in groups}


def paired_ensemble_errors(study: Study, members: list[str], labelled_classes_only: bool = False) -> dict[int, float]:
    """Error (%) per seed of the mean softmax of `members` of that seed: BANE-k (BAN-1..k), or ens-k (the control and
    its independent label-trained siblings), so that ens-k(seed) pairs with BANE-k(seed)."""
    return {s: _ensemble_error([study.models[s][m] for m in members], labelled_classes_only)
            for s in study.seeds if all(m in study.models[s] for m in members)}


def teachers(study: Study) -> dict[str, str | None]:
    """Each model's teacher as its records name it (None: it learnt from labels), in plan order."""
    named: dict[str, str | None] = {}
    for models in study.models.values():
        for name, model in models.items():
            named.setdefault(name, model.record["model"].get("teacher"))
    return {name: named[name] for name in study.model_names()}


def students(study: Study) -> list[str]:
    """The models that learn from a teacher's outputs (BAN generations, the other losses, ban-unsup), in plan order."""
    return [name for name, teacher in teachers(study).items() if teacher is not None]


def seed_group_rows(study: Study) -> dict[str, tuple[str, int]]:
    """The rows that average one model over disjoint groups of k seeds, each with that model and k: ens{k}-<model>,
    and ens-k where the control has fewer than k − 1 independent siblings of its own seed."""
    groups = {}
    independent = paper.recorded_setting(study, "independent_models") or 0
    for k in range(independent + 2, max(generations(study), 1) + 1):
        groups[row_names.ensemble(k)] = (study.control_model, k)
    k = paper.recorded_setting(study, "ensemble_of")
    if k is not None:
        groups |= {row_names.seed_ensemble(k, model): (model, k) for model in [*students(study), study.control_model]}
    return groups


def paired_row(name: str, baseline: str, groups: dict[str, tuple[str, int]]) -> str | None:
    """The row that `name` is paired with against `baseline`: the baseline itself for a row of one model per seed, the
    baseline's ensemble over the same seed group for an ensemble over seeds (never one of its own members); None
    when there is none."""
    if name not in groups:
        return None if baseline in groups or name == baseline else baseline
    model, k = groups.get(baseline, (baseline, groups[name][1]))
    partner = next((row for row, group in groups.items() if group == (model, k)), None)
    return None if partner == name or k != groups[name][1] else partner


def seed_ensembles(study: Study) -> dict[str, list[str]]:
    """The ensembles of one seed's models, each with its members: BANE-k (BAN-1..k) and Ens-k (the control and its
    independent siblings indep-2..k), for k from 2 to the number of generations."""
    sizes = range(2, max(generations(study), 1) + 1)
    names = [row_names.born_again_ensemble(k) for k in sizes if k <= generations(study)]
    return {name: row_names.members(name, study.control_model) for name in names + list(map(row_names.ensemble, sizes))}


def _model_error(model: records.SeedModel, labelled_classes_only: bool) -> float:
    """One model's test error (%): its fp32 predictions', or among the test set's classes from its stored logits."""
    if not labelled_classes_only:
        return model.error_pct
    return top1_error_pct(among_labelled_classes(model.logits, model.labels), model.labels)


def seed_errors(study: Study, labelled_classes_only: bool = False) -> dict[str, dict[int, float]]:
    """Test error (%) per row and seed: every model, BANE-k (BAN-1..k of the seed), Ens-k (the control with its
    independent siblings indep-2..k of the same seed where the preset trains them, else k control models of
    consecutive seeds), and where the preset sets ensemble_of = k, ens{k}-<model> for every student and the control.

    labelled_classes_only: each prediction is the top class among those the test labels name (see
    among_labelled_classes), computed from the stored fp16 logits; otherwise a model's error is its fp32 predictions'.
    """
    table = {name: {s: _model_error(m, labelled_classes_only) for s in study.seeds
                    if (m := study.models[s].get(name)) is not None}
             for name in study.model_names()}
    groups = seed_group_rows(study)
    for name, members in seed_ensembles(study).items():
        if name not in groups:
            table[name] = paired_ensemble_errors(study, members, labelled_classes_only)
    for name, (model, k) in groups.items():
        table[name] = seed_ensemble_errors(study, model, k, labelled_classes_only)
    return {name: errors for name, errors in table.items() if errors}
