"""Born-again distillation losses behind one contract: loss(student_logits, teacher_logits, labels) -> scalar."""

from ._validation import NonFiniteValues, value_checks
from .ban import BANLoss, ban_loss
from .ban_l import BANLLoss, ban_l_loss
from .base import DistillationLoss, TemperedDistillationLoss
from .ce import CELoss, ce_loss, weighted_cross_entropy
from .cwtm import CWTMLoss, cwtm_loss, cwtm_weights, teacher_confidence
from .dkpp import DKPPLoss, dkpp_loss, dkpp_targets
from .label_smoothing import LabelSmoothingLoss, label_smoothing_loss, smoothed_targets
from .logit_adjusted import LogitAdjustedLoss, class_priors, logit_adjusted_loss
from .soft_target import soft_target_cross_entropy, teacher_probabilities

_LOSSES: dict[str, type[DistillationLoss]] = {
    "ce": CELoss,
    "ban": BANLoss,
    "ban+l": BANLLoss,
    "cwtm": CWTMLoss,
    "dkpp": DKPPLoss,
}
_CONTROLS: dict[str, type[DistillationLoss]] = {
    "ls": LabelSmoothingLoss,
}
LOGIT_ADJUSTED = "logit-adjusted"
_IMBALANCED_LABELS: dict[str, type[DistillationLoss]] = {
    LOGIT_ADJUSTED: LogitAdjustedLoss,
}


def names() -> list[str]:
    """The paper's losses, in registry order."""
    return list(_LOSSES)


def control_names() -> list[str]:
    """The control losses the book adds beside the paper's (uniform label smoothing)."""
    return list(_CONTROLS)


def imbalanced_label_names() -> list[str]:
    """The label losses the book adds for training sets whose classes are imbalanced (logit adjustment)."""
    return list(_IMBALANCED_LABELS)


def build_loss(name: str, **kwargs) -> DistillationLoss:
    """Instantiate the paper's, a control or an imbalanced-label loss `name` with its keyword arguments (e.g. T=2.0,
    seed=0, mass=0.1, priors=[...], tau=1.0)."""
    registry = {**_LOSSES, **_CONTROLS, **_IMBALANCED_LABELS}
    if name not in registry:
        raise ValueError(f"unknown loss {name!r}; valid names: {', '.join(registry)}")
    return registry[name](**kwargs)


__all__ = [
    "BANLLoss",
    "BANLoss",
    "CELoss",
    "CWTMLoss",
    "DKPPLoss",
    "DistillationLoss",
    "LOGIT_ADJUSTED",
    "LabelSmoothingLoss",
    "LogitAdjustedLoss",
    "NonFiniteValues",
    "TemperedDistillationLoss",
    "ban_l_loss",
    "ban_loss",
    "build_loss",
    "ce_loss",
    "class_priors",
    "cwtm_loss",
    "control_names",
    "cwtm_weights",
    "dkpp_loss",
    "dkpp_targets",
    "imbalanced_label_names",
    "label_smoothing_loss",
    "logit_adjusted_loss",
    "names",
    "smoothed_targets",
    "soft_target_cross_entropy",
    "teacher_confidence",
    "teacher_probabilities",
    "value_checks",
    "weighted_cross_entropy",
]
