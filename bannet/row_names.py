"""The names of a study's rows: trained models (ban-k, indep-k, ban-1-t<T>, ban-1-same) and ensembles computed from
their outputs (bane-k, ens-k, ens{k}-<model>). Every module that makes or reads such a name calls these."""

import re

_GENERATION = re.compile(r"ban-(\d+)")
_INDEPENDENT = re.compile(r"indep-(\d+)")


def generation(k: int) -> str:
    """BAN-k, the k-th born-again generation (ban-1 learns from the teacher, ban-k from ban-(k−1))."""
    return f"ban-{k}"


def generation_number(name: str) -> int | None:
    """k for a generation's name ban-k; None for every other row (ban-unsup, ban-1-t2, ban+l, ...)."""
    match = _GENERATION.fullmatch(name)
    return None if match is None else int(match.group(1))


def tempered(temperature: float) -> str:
    """The BAN student of the teacher at temperature T: ban-1-t<T>."""
    return f"ban-1-t{temperature:g}"


SAME_FAMILY = "ban-1-same"  # in a cross-architecture study, the BAN student of `label`: its own family's teacher


def independent(k: int) -> str:
    """indep-k, the k-th label-trained model of the control's architecture with its own seed (k ≥ 2)."""
    return f"indep-{k}"


def is_independent(name: str) -> bool:
    """Whether the row is one of the control's independent label-trained siblings, indep-k."""
    return _INDEPENDENT.fullmatch(name) is not None


def born_again_ensemble(k: int) -> str:
    """bane-k: the mean softmax of BAN-1..k of one seed."""
    return f"bane-{k}"


def ensemble(k: int) -> str:
    """ens-k: the mean softmax of k label-trained models of the control's architecture."""
    return f"ens-{k}"


def seed_ensemble(k: int, model: str) -> str:
    """ens{k}-<model>: one model's mean softmax over a group of k seeds."""
    return f"ens{k}-{model}"


_BORN_AGAIN_ENSEMBLE = re.compile(r"bane-(\d+)")
_ENSEMBLE = re.compile(r"ens-(\d+)")


def members(name: str, control: str) -> list[str]:
    """The trained models a row of one seed needs: BANE-k its k generations, ens-k the control and indep-2..k, any
    other row itself."""
    if match := _BORN_AGAIN_ENSEMBLE.fullmatch(name):
        return [generation(k) for k in range(1, int(match.group(1)) + 1)]
    if match := _ENSEMBLE.fullmatch(name):
        return [control] + [independent(k) for k in range(2, int(match.group(1)) + 1)]
    return [name]
