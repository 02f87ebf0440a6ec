"""Argument checks shared by every loss: one place, one clear ValueError per problem."""

import math
from collections.abc import Iterator
from contextlib import contextmanager
from numbers import Real

import torch
from torch import Tensor

_value_checks_enabled = True


class NonFiniteValues(ValueError):
    """Logits holding nan or inf: bad input to a loss, or, inside training, a model that has diverged."""


@contextmanager
def value_checks(enabled: bool) -> Iterator[None]:
    """Turn the value checks (finite logits, labels in range) on or off in the block; they cost a host sync per call."""
    global _value_checks_enabled
    previous, _value_checks_enabled = _value_checks_enabled, enabled
    try:
        yield
    finally:
        _value_checks_enabled = previous


def check_temperature(temperature: float) -> None:
    """Raise ValueError unless the temperature T is a finite real number > 0."""
    if isinstance(temperature, bool) or not isinstance(temperature, Real):
        raise ValueError(f"temperature T must be a real number, got {type(temperature).__name__}")
    if not math.isfinite(temperature) or temperature <= 0:
        raise ValueError(f"temperature T must be finite and > 0, got {temperature}")


def check_weight(name: str, weight: float) -> None:
    """Raise ValueError unless a loss weight is a finite real number >= 0."""
    if isinstance(weight, bool) or not isinstance(weight, Real) or not math.isfinite(weight) or weight < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {weight!r}")


def check_logit_matrix(name: str, logits: Tensor) -> None:
    """Raise ValueError unless `logits` is a non-empty 2-D (batch, classes) floating-point Tensor."""
    if not isinstance(logits, Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(logits).__name__}")
    if not logits.is_floating_point():
        raise ValueError(f"{name} must have a floating-point dtype, got {logits.dtype}")
    if logits.ndim != 2:
        raise ValueError(f"{name} must be 2-D (batch, classes), got shape {tuple(logits.shape)}")
    if logits.numel() == 0:
        raise ValueError(f"{name} must be non-empty, got shape {tuple(logits.shape)}")


def _check_teacher(student_logits: Tensor, teacher_logits: Tensor | None) -> None:
    """Raise ValueError unless the teacher logits are present and match the student's batch, classes and device."""
    if teacher_logits is None:
        raise ValueError("teacher_logits are required by this loss, got None")
    check_logit_matrix("teacher_logits", teacher_logits)
    (batch, classes), (teacher_batch, teacher_classes) = student_logits.shape, teacher_logits.shape
    if teacher_classes != classes:
        raise ValueError(
            f"class-count mismatch: student_logits have {classes} classes, teacher_logits have {teacher_classes}"
        )
    if teacher_batch != batch:
        raise ValueError(
            f"batch-size mismatch: student_logits have {batch} rows, teacher_logits have {teacher_batch}"
        )
    if teacher_logits.device != student_logits.device:
        raise ValueError(
            f"device mismatch: student_logits on {student_logits.device}, teacher_logits on {teacher_logits.device}"
        )


def _check_labels(student_logits: Tensor, labels: Tensor | None) -> None:
    """Raise ValueError unless the labels are an int64 Tensor of shape (b,) on the student's device."""
    if not isinstance(labels, Tensor):
        raise ValueError(f"labels must be a torch.Tensor, got {type(labels).__name__}")
    if labels.dtype != torch.int64:
        raise ValueError(f"labels must have dtype torch.int64, got {labels.dtype}")
    batch = student_logits.shape[0]
    if labels.shape != (batch,):
        raise ValueError(f"labels must have shape ({batch},) to match student_logits, got {tuple(labels.shape)}")
    if labels.device != student_logits.device:
        raise ValueError(f"device mismatch: student_logits on {student_logits.device}, labels on {labels.device}")


def validate_inputs(
    student_logits: Tensor,
    teacher_logits: Tensor | None = None,
    labels: Tensor | None = None,
    temperature: float = 1.0,
    *,
    needs_teacher: bool = False,
    needs_labels: bool = False,
) -> None:
    """Check dtypes, shapes and T first, then all value checks (finite logits, labels in [0, n)) in one host sync."""
    check_logit_matrix("student_logits", student_logits)
    check_temperature(temperature)
    if needs_teacher:
        _check_teacher(student_logits, teacher_logits)
    if needs_labels:
        _check_labels(student_logits, labels)
    if not _value_checks_enabled:
        return
    value_checks = {  # message: (passed, what to raise)
        "student_logits contain non-finite values (nan or inf)":
            (torch.isfinite(student_logits.detach()).all(), NonFiniteValues)}
    if needs_teacher:
        value_checks["teacher_logits contain non-finite values (nan or inf)"] = (
            torch.isfinite(teacher_logits.detach()).all(), NonFiniteValues)
    if needs_labels:
        classes = student_logits.shape[1]
        value_checks[f"labels must lie in [0, {classes})"] = (((labels >= 0) & (labels < classes)).all(), ValueError)
    passed = torch.stack([ok for ok, _ in value_checks.values()]).tolist()  # one host sync for all checks
    for (message, (_, error)), ok in zip(value_checks.items(), passed):
        if not ok:
            detail = f", got min {labels.min().item()}, max {labels.max().item()}" if error is ValueError else ""
            raise error(message + detail)
