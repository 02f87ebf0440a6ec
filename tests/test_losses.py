"""Tests for bannet.losses: hand-written backward passes, reference values, DKPP targets, CWTM weights, input checks."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch.autograd import gradcheck

from bannet.losses import (
    DistillationLoss,
    ban_l_loss,
    ban_loss,
    build_loss,
    ce_loss,
    class_priors,
    control_names,
    cwtm_loss,
    cwtm_weights,
    dkpp_loss,
    dkpp_targets,
    imbalanced_label_names,
    label_smoothing_loss,
    logit_adjusted_loss,
    names,
    teacher_confidence,
)

BATCH, CLASSES = 6, 5
TEACHER_LOSSES = ["ban", "ban+l", "cwtm", "dkpp"]
LABEL_LOSSES = ["ce", "ban+l", "cwtm", "ls", "logit-adjusted"]
LABEL_ONLY = {"ce", "ls", "logit-adjusted"}
MASS = 0.3  # the "ls" loss's wrong-class mass
PRIORS = torch.tensor([0.5, 0.25, 0.125, 0.0625, 0.0625], dtype=torch.float64)  # the "logit-adjusted" loss's π
TAU = 1.5  # and its strength
TEMPERATURES = [1.0, 0.5, 4.0]
WEIGHTS = {"label_weight": 0.7, "teacher_weight": 1.3}


def make_batch(dtype: torch.dtype = torch.float64, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Random student logits z, teacher logits t and labels y."""
    rng = torch.Generator().manual_seed(seed)
    student = (2 * torch.randn(BATCH, CLASSES, generator=rng)).to(dtype)
    teacher = (3 * torch.randn(BATCH, CLASSES, generator=rng)).to(dtype)
    labels = torch.randint(0, CLASSES, (BATCH,), generator=rng)
    return student, teacher, labels


def seeded(seed: int = 0) -> torch.Generator:
    """A fresh CPU generator, so repeated calls see the same DKPP permutation."""
    return torch.Generator().manual_seed(seed)


def reference_soft_target(z, p, T):
    """Plain-autograd -(T²/b) Σ p log softmax(z/T)."""
    return -(p * F.log_softmax(z / T, dim=1)).sum(dim=1).mean() * T**2


def reference_ban(z, t, T):
    """Plain-autograd BAN teacher loss."""
    return reference_soft_target(z, F.softmax(t / T, dim=1), T)


def reference_cwtm(z, t, y, T):
    """Plain-autograd CWTM: Σ_s (max p_s / Σ_u max p_u) CE_s."""
    confidence = F.softmax(t / T, dim=1).max(dim=1).values
    return (confidence / confidence.sum() * F.cross_entropy(z, y, reduction="none")).sum()


# name -> (our functional form, plain-autograd reference), both called as f(z, t, y, T)
LOSSES = {
    "ce": (lambda z, t, y, T: ce_loss(z, y), lambda z, t, y, T: F.cross_entropy(z, y)),
    "ban": (lambda z, t, y, T: ban_loss(z, t, T), lambda z, t, y, T: reference_ban(z, t, T)),
    "ban+l": (
        lambda z, t, y, T: ban_l_loss(z, t, y, T, **WEIGHTS),
        lambda z, t, y, T: WEIGHTS["label_weight"] * F.cross_entropy(z, y)
        + WEIGHTS["teacher_weight"] * reference_ban(z, t, T),
    ),
    "cwtm": (lambda z, t, y, T: cwtm_loss(z, t, y, T), reference_cwtm),
    "dkpp": (
        lambda z, t, y, T: dkpp_loss(z, t, T, generator=seeded()),
        lambda z, t, y, T: reference_soft_target(z, dkpp_targets(F.softmax(t / T, dim=1), seeded()), T),
    ),
    # torch's smoothing ε also puts ε/n on the true class: ε = m·n/(n−1) leaves exactly m on the wrong ones
    "ls": (lambda z, t, y, T: label_smoothing_loss(z, y, MASS),
           lambda z, t, y, T: F.cross_entropy(z, y, label_smoothing=MASS * CLASSES / (CLASSES - 1))),
    "logit-adjusted": (lambda z, t, y, T: logit_adjusted_loss(z, y, PRIORS.log(), TAU),
                       lambda z, t, y, T: F.cross_entropy(z + TAU * PRIORS.log().to(z.dtype), y)),
}
LOSS_AND_T = [(name, T) for name in LOSSES for T in ([1.0] if name in LABEL_ONLY else TEMPERATURES)]
BUILD_KWARGS = {"dkpp": {"seed": 0}, "ls": {"mass": MASS}, "logit-adjusted": {"priors": PRIORS, "tau": TAU}}


@pytest.mark.parametrize(("name", "T"), LOSS_AND_T)
def test_backward_passes_gradcheck(name, T):
    z, t, y = make_batch()
    loss, _ = LOSSES[name]
    assert gradcheck(lambda student: loss(student, t, y, T), (z.requires_grad_(),))


@pytest.mark.parametrize(("name", "T"), LOSS_AND_T)
def test_value_and_gradient_match_autograd_reference(name, T):
    z, t, y = make_batch()
    loss, reference = LOSSES[name]
    ours_z, reference_z = z.clone().requires_grad_(), z.clone().requires_grad_()
    ours, expected = loss(ours_z, t, y, T), reference(reference_z, t, y, T)
    ours.backward()
    expected.backward()
    torch.testing.assert_close(ours, expected)
    torch.testing.assert_close(ours_z.grad, reference_z.grad)


@pytest.mark.parametrize("name", LOSSES)
def test_float32_inputs_give_float32_loss_and_gradient(name):
    z, t, y = make_batch(torch.float32)
    z.requires_grad_()
    loss, _ = LOSSES[name]
    value = loss(z, t, y, 2.0 if name not in LABEL_ONLY else 1.0)
    value.backward()
    assert value.dtype == torch.float32 and value.ndim == 0
    assert z.grad.dtype == torch.float32 and torch.isfinite(z.grad).all()


@pytest.mark.parametrize("name", TEACHER_LOSSES)
def test_teacher_receives_no_gradient(name):
    z, t, y = make_batch()
    z.requires_grad_()
    t.requires_grad_()
    LOSSES[name][0](z, t, y, 2.0).backward()
    assert t.grad is None or not t.grad.any()
    assert z.grad is not None and z.grad.abs().sum() > 0


@pytest.mark.parametrize("T", TEMPERATURES)
def test_ban_gradient_is_T_times_q_minus_p_over_batch(T):
    z, t, _ = make_batch()
    z.requires_grad_()
    ban_loss(z, t, T).backward()
    expected = T * (F.softmax(z / T, dim=1) - F.softmax(t / T, dim=1)) / BATCH
    torch.testing.assert_close(z.grad, expected.detach())


@pytest.mark.parametrize("T", TEMPERATURES)
def test_ban_is_batch_mean_kl_plus_teacher_entropy(T):
    z, t, _ = make_batch()
    p = F.softmax(t / T, dim=1)
    kl = F.kl_div(F.log_softmax(z / T, dim=1), p, reduction="batchmean")
    entropy = -(p * p.log()).sum(dim=1).mean()
    torch.testing.assert_close(ban_loss(z, t, T), T**2 * (kl + entropy))


@pytest.mark.parametrize("T", TEMPERATURES)
def test_cwtm_weights_are_normalised_teacher_max(T):
    _, t, _ = make_batch()
    weights = cwtm_weights(t, T)
    confidence = F.softmax(t / T, dim=1).max(dim=1).values
    torch.testing.assert_close(weights.sum(), torch.tensor(1.0, dtype=weights.dtype))
    torch.testing.assert_close(weights, confidence / confidence.sum())
    torch.testing.assert_close(teacher_confidence(t, T), confidence)


@pytest.mark.parametrize("T", TEMPERATURES)
def test_cwtm_forward_and_gradient_use_the_same_weights(T):
    z, t, y = make_batch()
    z.requires_grad_()
    weights = cwtm_weights(t, T)
    loss = cwtm_loss(z, t, y, T)
    loss.backward()
    per_sample_ce = F.cross_entropy(z.detach(), y, reduction="none")
    expected_grad = weights[:, None] * (F.softmax(z.detach(), dim=1) - F.one_hot(y, CLASSES))
    torch.testing.assert_close(loss, (weights * per_sample_ce).sum())
    torch.testing.assert_close(z.grad, expected_grad)


def test_cwtm_explicit_normaliser():
    z, t, y = make_batch()
    local_sum = teacher_confidence(t).sum()
    torch.testing.assert_close(cwtm_loss(z, t, y, normaliser=local_sum), cwtm_loss(z, t, y))
    torch.testing.assert_close(cwtm_loss(z, t, y, normaliser=2 * local_sum), cwtm_loss(z, t, y) / 2)


def test_dkpp_differs_from_ban():
    z, t, _ = make_batch()
    assert not torch.allclose(dkpp_loss(z, t, generator=seeded()), ban_loss(z, t))


def test_dkpp_keeps_argmax_and_each_rows_values():
    _, t, _ = make_batch()
    p = F.softmax(t, dim=1)
    permuted = dkpp_targets(p, seeded())
    rows = torch.arange(BATCH)
    assert torch.equal(permuted.argmax(dim=1), p.argmax(dim=1))
    assert torch.equal(permuted[rows, p.argmax(dim=1)], p[rows, p.argmax(dim=1)])
    assert torch.equal(permuted.sort(dim=1).values, p.sort(dim=1).values)
    assert not torch.equal(permuted, p)


def test_dkpp_permutes_every_non_argmax_position_independently_per_row():
    p = F.softmax(torch.tensor([[0.1, 3.0, 0.4, -1.0, 0.9]], dtype=torch.float64), dim=1).expand(2, CLASSES)
    generator = seeded()
    draws = torch.stack([dkpp_targets(p, generator) for _ in range(200)])
    assert not torch.equal(draws[:, 0], draws[:, 1]), "identical rows always got the same permutation"
    for position in (0, 2, 3, 4):
        assert draws[:, 0, position].unique().numel() == CLASSES - 1, f"position {position} is not permuted"
    assert torch.equal(draws[:, :, 1], p[:, 1].expand(200, 2))


def test_dkpp_same_seed_same_targets():
    _, t, _ = make_batch()
    p = F.softmax(t, dim=1)
    assert torch.equal(dkpp_targets(p, seeded(3)), dkpp_targets(p, seeded(3)))
    assert not torch.equal(dkpp_targets(p, seeded(3)), dkpp_targets(p, seeded(4)))


def test_dkpp_module_is_seeded_and_its_generator_state_is_saved():
    z, t, y = make_batch()
    first, second = build_loss("dkpp", seed=5), build_loss("dkpp", seed=5)
    torch.testing.assert_close(first(z, t, y), dkpp_loss(z, t, generator=seeded(5)))
    torch.testing.assert_close(second(z, t, y), dkpp_loss(z, t, generator=seeded(5)))
    resumed = build_loss("dkpp", seed=99)
    resumed.load_state_dict(first.state_dict())
    torch.testing.assert_close(resumed(z, t, y), first(z, t, y))


@pytest.mark.parametrize(("name", "T"), LOSS_AND_T)
def test_registry_modules_match_functional_forms(name, T):
    z, t, y = make_batch()
    kwargs = {"ce": {}, "ban": {"T": T}, "ban+l": {"T": T, **WEIGHTS}, "cwtm": {"T": T}, "dkpp": {"T": T, "seed": 0},
              "ls": {"mass": MASS}, "logit-adjusted": {"priors": PRIORS.tolist(), "tau": TAU}}
    module = build_loss(name, **kwargs[name])
    assert isinstance(module, DistillationLoss)
    assert module.needs_teacher == (name not in LABEL_ONLY)
    torch.testing.assert_close(module(z, t if module.needs_teacher else None, y), LOSSES[name][0](z, t, y, T))


def test_registry_names_and_unknown_name():
    assert names() == ["ce", "ban", "ban+l", "cwtm", "dkpp"] and control_names() == ["ls"]
    assert imbalanced_label_names() == ["logit-adjusted"]
    with pytest.raises(ValueError, match=r"unknown loss 'kd'.*ce, ban, ban\+l, cwtm, dkpp, ls, logit-adjusted$"):
        build_loss("kd")


def _with_label(labels, value):
    labels = labels.clone()
    labels[0] = value
    return labels


def _with_entry(logits, value):
    logits = logits.clone()
    logits[1, 2] = value
    return logits


EVERY_LOSS = names() + control_names() + imbalanced_label_names()
# (case id, losses it applies to, bad (z, t, y) from a good batch, expected message)
INVALID_INPUTS = [
    ("student-1d", EVERY_LOSS, lambda z, t, y: (z[0], t, y), "student_logits must be 2-D"),
    ("student-3d", EVERY_LOSS, lambda z, t, y: (z[None], t, y), "student_logits must be 2-D"),
    ("student-int", EVERY_LOSS, lambda z, t, y: (z.long(), t, y),
     "student_logits must have a floating-point dtype"),
    ("student-nan", EVERY_LOSS, lambda z, t, y: (_with_entry(z, math.nan), t, y),
     "student_logits contain non-finite"),
    ("student-inf", EVERY_LOSS, lambda z, t, y: (_with_entry(z, math.inf), t, y),
     "student_logits contain non-finite"),
    ("teacher-none", TEACHER_LOSSES, lambda z, t, y: (z, None, y), "teacher_logits are required"),
    ("teacher-classes", TEACHER_LOSSES, lambda z, t, y: (z, t[:, :-1], y), "class-count mismatch"),
    ("teacher-batch", TEACHER_LOSSES, lambda z, t, y: (z, t[:-1], y), "batch-size mismatch"),
    ("teacher-1d", TEACHER_LOSSES, lambda z, t, y: (z, t[0], y), "teacher_logits must be 2-D"),
    ("teacher-int", TEACHER_LOSSES, lambda z, t, y: (z, t.long(), y), "teacher_logits must have a floating-point"),
    ("teacher-nan", TEACHER_LOSSES, lambda z, t, y: (z, _with_entry(t, math.nan), y), "teacher_logits contain non"),
    ("labels-2d", LABEL_LOSSES, lambda z, t, y: (z, t, y[:, None]), r"labels must have shape \(6,\)"),
    ("labels-short", LABEL_LOSSES, lambda z, t, y: (z, t, y[:-1]), r"labels must have shape \(6,\)"),
    ("labels-int32", LABEL_LOSSES, lambda z, t, y: (z, t, y.int()), "labels must have dtype torch.int64"),
    ("labels-float", LABEL_LOSSES, lambda z, t, y: (z, t, y.double()), "labels must have dtype torch.int64"),
    ("labels-none", LABEL_LOSSES, lambda z, t, y: (z, t, None), "labels must be a torch.Tensor"),
    ("label-too-big", LABEL_LOSSES, lambda z, t, y: (z, t, _with_label(y, CLASSES)), r"labels must lie in \[0, 5\)"),
    ("label-negative", LABEL_LOSSES, lambda z, t, y: (z, t, _with_label(y, -1)), r"lie in \[0, 5\), got min -1"),
]
INVALID_CASES = [
    pytest.param(name, corrupt, message, id=f"{case}-{name}")
    for case, applies_to, corrupt, message in INVALID_INPUTS
    for name in applies_to
]


@pytest.mark.parametrize(("name", "corrupt", "message"), INVALID_CASES)
def test_invalid_inputs_raise_value_error(name, corrupt, message):
    loss = build_loss(name, **BUILD_KWARGS.get(name, {}))
    with pytest.raises(ValueError, match=message):
        loss(*corrupt(*make_batch()))


@pytest.mark.parametrize("T", [0.0, -1.0, math.nan, math.inf, "2", True])
@pytest.mark.parametrize("name", TEACHER_LOSSES)
def test_invalid_temperature_raises_value_error(name, T):
    z, t, y = make_batch()
    with pytest.raises(ValueError, match="temperature T"):
        build_loss(name, T=T)
    with pytest.raises(ValueError, match="temperature T"):
        LOSSES[name][0](z, t, y, T)


@pytest.mark.parametrize("weight", ["label_weight", "teacher_weight"])
def test_ban_l_rejects_negative_weight(weight):
    z, t, y = make_batch()
    with pytest.raises(ValueError, match=weight):
        ban_l_loss(z, t, y, **{weight: -1.0})
    with pytest.raises(ValueError, match=weight):
        build_loss("ban+l", **{weight: math.nan})


def test_cwtm_rejects_non_scalar_normaliser():
    z, t, y = make_batch()
    with pytest.raises(ValueError, match="normaliser must be a one-element Tensor"):
        cwtm_loss(z, t, y, normaliser=torch.ones(2, dtype=z.dtype))


def test_dkpp_targets_rejects_non_matrix():
    with pytest.raises(ValueError, match="probs must be a 2-D floating-point Tensor"):
        dkpp_targets(torch.ones(CLASSES))


def test_label_smoothing_puts_exactly_the_mass_on_the_wrong_classes():
    from bannet.losses import smoothed_targets
    targets = smoothed_targets(torch.tensor([2, 0]), 5, 0.2)
    torch.testing.assert_close(targets.sum(1), torch.ones(2))
    assert targets[0, 2] == pytest.approx(0.8) and targets[0, 0] == pytest.approx(0.05)
    assert (1 - targets.gather(1, torch.tensor([[2], [0]]))).squeeze(1).tolist() == pytest.approx([0.2, 0.2])


@pytest.mark.parametrize("mass", [-0.1, 1.0, math.nan, "0.1", True])
def test_label_smoothing_rejects_a_bad_mass(mass):
    with pytest.raises(ValueError, match="smoothing mass"):
        build_loss("ls", mass=mass)


def test_logit_adjustment_at_tau_zero_is_plain_cross_entropy():
    z, _, y = make_batch()
    ours, plain = z.clone().requires_grad_(), z.clone().requires_grad_()
    adjusted = build_loss("logit-adjusted", priors=PRIORS, tau=0.0)(ours, None, y)
    expected = ce_loss(plain, y)
    adjusted.backward()
    expected.backward()
    torch.testing.assert_close(adjusted, expected)
    torch.testing.assert_close(ours.grad, plain.grad)
    assert not torch.allclose(logit_adjusted_loss(z, y, PRIORS.log(), TAU), expected)  # τ > 0 changes it


def test_logit_adjusted_gradient_is_the_adjusted_softmax_minus_onehot_over_batch():
    z, _, y = make_batch()
    z.requires_grad_()
    logit_adjusted_loss(z, y, PRIORS.log(), TAU).backward()
    expected = (F.softmax(z.detach() + TAU * PRIORS.log(), dim=1) - F.one_hot(y, CLASSES)) / BATCH
    torch.testing.assert_close(z.grad, expected)


def _fitted_biases(loss_name: str, labels: torch.Tensor, **settings) -> torch.Tensor:
    """The class biases b (a model that sees no input) minimising the loss on `labels`, by gradient descent."""
    biases = torch.zeros(1, CLASSES, dtype=torch.float64, requires_grad=True)
    loss_fn, optimizer = build_loss(loss_name, **settings), torch.optim.SGD([biases], lr=2.0)
    for _ in range(2000):
        optimizer.zero_grad()
        loss_fn(biases.expand(len(labels), CLASSES), None, labels).backward()
        optimizer.step()
    return biases.detach()[0]


def test_logit_adjustment_moves_the_raw_logits_prior_from_the_training_labels_to_uniform():
    labels = torch.repeat_interleave(torch.arange(CLASSES), (PRIORS * 16).long())  # 8, 4, 2, 1, 1 images
    plain = _fitted_biases("ce", labels)
    adjusted = _fitted_biases("logit-adjusted", labels, priors=PRIORS, tau=1.0)
    torch.testing.assert_close(plain.softmax(0), PRIORS, atol=1e-4, rtol=0)  # CE learns the label prior
    torch.testing.assert_close(adjusted.softmax(0), torch.full_like(PRIORS, 1 / CLASSES), atol=1e-4, rtol=0)


def test_class_priors_are_label_shares_with_every_class_counted():
    priors = class_priors(torch.tensor([0, 2, 2, 2]), 4)
    torch.testing.assert_close(priors, torch.tensor([0.25, 0.0, 0.75, 0.0], dtype=torch.float64))


@pytest.mark.parametrize(("priors", "message"), [
    ([0.5, 0.5, 0.0, 0.0, 0.0], "priors must all be finite and > 0"),
    ([0.75, 0.5, -0.25, 0.0, 0.0], "priors must all be finite and > 0"),
    ([0.2, 0.2, 0.2, 0.2, math.nan], "priors must all be finite and > 0"),
    ([0.3, 0.2, 0.2, 0.2, 0.2], "priors must sum to 1, got 1.1"),
    ([[0.5, 0.5]], r"priors must be a non-empty 1-D vector, got shape \(1, 2\)"),
    ([], "priors must be a non-empty 1-D vector"),
])
def test_logit_adjustment_rejects_bad_priors_in_one_line(priors, message):
    with pytest.raises(ValueError, match=message) as error:
        build_loss("logit-adjusted", priors=priors)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("tau", [-0.5, math.nan, math.inf, "1", True])
def test_logit_adjustment_rejects_a_bad_strength(tau):
    with pytest.raises(ValueError, match="tau must be a finite number >= 0"):
        build_loss("logit-adjusted", priors=PRIORS, tau=tau)


def test_logit_adjustment_needs_one_prior_per_class():
    z, _, y = make_batch()
    with pytest.raises(ValueError, match="class-count mismatch: student_logits have 5 classes, the priors have 2"):
        build_loss("logit-adjusted", priors=[0.5, 0.5])(z, None, y)


def test_logit_adjusted_loss_keeps_nothing_in_its_state_dict():
    assert build_loss("logit-adjusted", priors=PRIORS).state_dict() == {}
