"""Ensembles from stored logits: the mean of the members' softmax outputs."""

from collections.abc import Sequence

import torch

from bannet import records


def ensemble_probabilities(logits: Sequence[torch.Tensor]) -> torch.Tensor:
    """(1/k) Σ_j softmax(z_j): the BANE / independent-ensemble prediction."""
    if not logits:
        raise ValueError("an ensemble needs at least one member")
    shapes = {tuple(z.shape) for z in logits}
    if len(shapes) != 1:
        raise ValueError(f"ensemble members disagree in shape: {sorted(shapes)}")
    return torch.stack([z.float().softmax(1) for z in logits]).mean(0)


def error_pct(scores: torch.Tensor, labels: torch.Tensor) -> float:
    """Top-1 test error in percent of logits or probabilities against labels."""
    if scores.shape[0] != labels.shape[0]:
        raise ValueError(f"{scores.shape[0]} predictions for {labels.shape[0]} labels")
    return records.error_pct(scores.argmax(1), labels)
