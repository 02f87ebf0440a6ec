"""The fast recipe and its network: whitening, alternating flips, schedule, TTA, resume, the kind rule, every loss."""

import json
from dataclasses import replace

import pytest
import torch

from bannet import records
from bannet.born_again import StudyRunner, run_study
from bannet.data import DATASETS, AlternatingFlipTranslate, DeviceLoader
from bannet.errors import InvalidInput
from bannet.models import build, fit_to_training_images
from bannet.models.airbench import WHITENING_EPS, patch_eigenbasis
from bannet.presets import get_preset, study_plan
from bannet.recipes import FastRecipe, recipe_for
from bannet.recipes.lookahead import Lookahead
from bannet.train import tta_probabilities
from helpers import tiny_cifar_like

CPU = torch.device("cpu")
# the CIFAR-10 preset of the fast recipe in the smoke profile, two epochs past the whitening bias's last
FAST = replace(get_preset("cifar10-airbench", "smoke"), epochs=5, generations=1, students=(), independent_models=0,
               equal_compute=False, label_smoothing=False)


@pytest.fixture(scope="module")
def cifar_like():
    return tiny_cifar_like()


def _smooth_images(n: int = 64) -> torch.Tensor:
    """Correlated images (neighbouring pixels and channels alike), so whitening has something to undo."""
    base = torch.randn(n, 1, 34, 34, generator=torch.Generator().manual_seed(0))
    blurred = torch.nn.functional.avg_pool2d(base, 3, stride=1)
    return torch.cat([blurred + 0.3, 0.5 * blurred + 0.1 * torch.randn_like(blurred), -blurred], dim=1)  # mean not 0


def test_the_stem_decorrelates_the_patches_it_was_fitted_on():
    images = _smooth_images()
    model = fit_to_training_images(build("airbench-64-256-256", 10), images)
    out = model.whiten(images)[:, :12]  # the eigenvector half; the other 12 channels are its negatives
    covariance = torch.cov(out.permute(1, 0, 2, 3).reshape(12, -1).double())
    eigenvalues, _ = patch_eigenbasis(images, 2)
    expected = torch.diag(eigenvalues.double() / (eigenvalues.double() + WHITENING_EPS))
    torch.testing.assert_close(covariance, expected, atol=2e-4, rtol=1e-3)
    assert not torch.allclose(torch.cov(images.permute(1, 0, 2, 3).reshape(3, -1)), torch.eye(3), atol=0.1)
    assert not model.whiten.weight.requires_grad and model.whiten.bias.requires_grad


def test_the_alternating_flip_mirrors_each_image_in_exactly_one_of_two_consecutive_epochs():
    n = 40
    images = torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    spec = DATASETS["cifar10"]
    loader = DeviceLoader(images, torch.arange(n), spec, 8, True, generator=torch.Generator().manual_seed(2),
                          augmentation=AlternatingFlipTranslate(pad=0))  # no translation: each view is x or mirror x
    plain = DeviceLoader(images, torch.arange(n), spec, n, False)
    original = next(iter(plain))[0]

    def mirrored_in_epoch() -> torch.Tensor:
        flags = torch.zeros(n, dtype=torch.bool)
        for x, index in loader:
            same, mirror = (x == original[index]).flatten(1).all(1), (x == original[index].flip(-1)).flatten(1).all(1)
            assert (same ^ mirror).all()
            flags[index] = mirror
        return flags

    epochs = [mirrored_in_epoch() for _ in range(2)]
    resumed_state = loader.state_dict()
    epochs += [mirrored_in_epoch() for _ in range(2)]
    assert 10 < epochs[0].sum() < 30  # a random half in the first epoch
    for before, after in zip(epochs, epochs[1:]):
        assert (before ^ after).all()
    loader.load_state_dict(resumed_state)  # a resumed loader continues the alternation
    assert torch.equal(mirrored_in_epoch(), epochs[2])


def test_the_schedule_starts_peaks_and_ends_where_the_recipe_says():
    recipe = FastRecipe(epochs=10)
    steps_per_epoch, total = 50, 500
    assert recipe.lr_factor(0, steps_per_epoch) == pytest.approx(0.2)
    assert recipe.lr_factor(int(0.23 * total), steps_per_epoch) == pytest.approx(1.0)
    assert recipe.lr_factor(total, steps_per_epoch) == pytest.approx(0.07)
    assert recipe.lr_factor(57, steps_per_epoch) < recipe.lr_factor(58, steps_per_epoch)  # rising before the peak
    assert recipe.lr_factor(300, steps_per_epoch) > recipe.lr_factor(301, steps_per_epoch)  # falling after it
    # per 1024 images with the momentum's gain divided out: 5.0 at batch 1000 and momentum 0.85
    assert recipe.sgd_lr == pytest.approx(5.0 * 1000 / 1024 * 0.15 / 1.15)


def test_batchnorm_biases_learn_faster_with_the_same_absolute_decay_and_frozen_weights_are_not_optimised():
    model = build("airbench-8-16-16", 10)
    optimizer = FastRecipe(epochs=1).make_optimizer(model, CPU)
    others, biases = optimizer.param_groups
    assert biases["lr"] == pytest.approx(64 * others["lr"])
    assert biases["lr"] * biases["weight_decay"] == pytest.approx(others["lr"] * others["weight_decay"])
    optimised = {id(p) for group in optimizer.param_groups for p in group["params"]}
    norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert all(id(m.weight) not in optimised and id(m.bias) in optimised for m in norms)
    assert id(model.whiten.bias) in optimised


def test_batchnorm_that_learns_its_scale_keeps_its_bias_at_the_weights_rate():
    model = build("wrn-10-1", 10)
    (group,) = FastRecipe(epochs=1).make_optimizer(model, CPU).param_groups
    assert {id(p) for p in group["params"]} == {id(p) for p in model.parameters()}


def test_tta_is_the_mean_of_the_views_softmax(cifar_like):
    model = fit_to_training_images(build("airbench-8-16-16", 10), cifar_like.train_images[:64].float() / 255).eval()
    loader = DeviceLoader(cifar_like.test_images, cifar_like.test_labels, cifar_like.spec, 50, False)
    got = tta_probabilities(model, loader, CPU, FastRecipe(epochs=1, precision="fp32"))
    with torch.no_grad():
        x = torch.cat([batch for batch, _ in loader])
        expected = (model(x).softmax(1) + model(x.flip(-1)).softmax(1)) / 2
    torch.testing.assert_close(got, expected)
    assert not torch.allclose(got, model(x).softmax(1).detach())  # the mirror view really counts


def _stop_teacher_after(epoch: int):
    class Stop(Exception):
        pass

    def on_epoch(spec, metrics):
        if spec.name == "teacher" and metrics.epoch == epoch:
            raise Stop
    return Stop, on_epoch


@pytest.mark.parametrize("recipe", ["airbench", "airbench-lookahead"])
def test_a_fast_recipe_model_resumed_mid_run_is_bit_identical(tmp_path, cifar_like, recipe):
    preset = replace(FAST, recipe=recipe)
    whole, resumed = tmp_path / "whole", tmp_path / "resumed"
    StudyRunner(preset, whole, cifar_like, CPU, progress=False, log=lambda _: None).run_seed(0, ["teacher"])
    stop, on_epoch = _stop_teacher_after(2)  # inside the whitening bias's epochs and inside the alternation
    with pytest.raises(stop):
        StudyRunner(preset, resumed, cifar_like, CPU, progress=False, log=lambda _: None,
                    on_epoch=on_epoch).run_seed(0)
    assert records.model_files(resumed, 0, "teacher").state.is_file()
    StudyRunner(preset, resumed, cifar_like, CPU, progress=False, log=lambda _: None).run_seed(0, ["teacher"])
    want, got = records.model_files(whole, 0, "teacher"), records.model_files(resumed, 0, "teacher")
    expected, actual = records.load_checkpoint(want), records.load_checkpoint(got)
    assert all(torch.equal(expected[k], actual[k]) for k in expected)
    assert torch.equal(records.load_logits(want.logits)[0], records.load_logits(got.logits)[0])
    record = records.load_record(got.record)
    assert record["test_error_tta_pct"] == records.load_record(want.record)["test_error_tta_pct"]
    assert 0 <= record["train_error_plain_pct"] <= 100 and record["train"]["recipe"] == recipe


def test_lookahead_moves_the_slow_weights_every_fifth_step_and_leaves_the_model_at_them():
    model = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.BatchNorm1d(2))
    model(torch.randn(8, 3))  # running statistics away from their start
    lookahead = Lookahead(model)
    start = {k: v.clone() for k, v in model.state_dict().items()}
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
    moved = {k: v.clone() for k, v in model.state_dict().items()}
    lookahead.after_step(model, 4, 12)  # not a fifth step, not the last: nothing happens
    assert all(torch.equal(model.state_dict()[k], moved[k]) for k in moved)
    lookahead.after_step(model, 5, 12)
    d = 0.95 ** 5 * (5 / 12) ** 3
    for name, value in model.state_dict().items():
        if value.is_floating_point():
            torch.testing.assert_close(value, d * start[name] + (1 - d) * moved[name])
        else:  # BatchNorm's batch counter is not averaged
            assert torch.equal(value, moved[name])
    slow = {k: v.clone() for k, v in model.state_dict().items()}
    with torch.no_grad():
        model[0].weight.add_(1.0)
    lookahead.after_step(model, 12, 12)  # the last step, not a fifth one: back to the slow weights, not averaged
    torch.testing.assert_close(model[0].weight, slow["0.weight"])


def test_lookahead_changes_what_the_recipe_trains(tmp_path, cifar_like):
    logits = {}
    for recipe in ("airbench", "airbench-lookahead"):
        preset = replace(FAST, recipe=recipe, epochs=2)
        StudyRunner(preset, tmp_path / recipe, cifar_like, CPU, progress=False, log=lambda _: None).run_seed(
            0, ["teacher"])
        logits[recipe] = records.load_logits(records.model_files(tmp_path / recipe, 0, "teacher").logits)[0]
    assert not torch.equal(logits["airbench"], logits["airbench-lookahead"])
    assert "Lookahead every 5 steps" in recipe_for(replace(FAST, recipe="airbench-lookahead")).describe()


def test_run_refuses_a_seed_whose_records_name_another_kind(tmp_path, cifar_like):
    run_study(FAST, [0], tmp_path, CPU, data=cifar_like, progress=False, log=lambda _: None, models=["teacher"])
    path = records.model_files(tmp_path, 0, "teacher").record
    record = json.loads(path.read_text())
    record["provenance"]["kind"]["threads"] += 1  # as if recorded with another thread count
    path.write_text(json.dumps(record))
    trained = []
    with pytest.raises(InvalidInput, match=r"^seed 0 was recorded on .* \(teacher\.json\); this machine is [^\n]*$"):
        run_study(FAST, [0], tmp_path, CPU, data=cifar_like, progress=False, log=trained.append)
    assert not records.model_files(tmp_path, 0, "ban-1").state.exists() and not trained  # refused before training


def test_every_loss_trains_the_new_family_in_the_smoke_profile(tmp_path, cifar_like):
    preset = replace(get_preset("cifar10-airbench", "smoke"), epochs=1)
    run_study(preset, [0], tmp_path, CPU, data=cifar_like, progress=False, log=lambda _: None)
    study = records.load_study(tmp_path)
    plan = study_plan(preset)
    assert {spec.loss for spec in plan} >= {"ce", "ban", "ban+l", "cwtm", "dkpp", "ls"}
    assert study.model_names() == [spec.name for spec in plan]
    for spec in plan:
        record = study.record(0, spec.name)
        assert record["model"]["arch"] == "airbench-8-16-16" and record["train"]["recipe"] == preset.recipe
        assert torch.isfinite(study.models[0][spec.name].logits).all()
