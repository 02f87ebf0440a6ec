"""The BAN implementation checklist (book/checklist.md): one test per recurring pitfall, each failing if bannet
had it."""

import json
import re
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from bannet import born_again, losses
from bannet.data import DATASETS, DeviceLoader
from bannet.presets import get_preset, study_plan
from bannet.recipes import StepRecipe
from bannet.train import train_model
from helpers import paper_design, tiny_mnist_like

CPU = torch.device("cpu")
FP32 = StepRecipe(epochs=1, batch_size=32, precision="fp32")


def _batch(b: int = 16, n: int = 10, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(b, n, generator=g, dtype=torch.float64)
    return z, 3 * torch.randn(b, n, generator=g, dtype=torch.float64), torch.randint(n, (b,), generator=g)


def test_the_soft_target_loss_averages_over_examples_not_over_examples_times_classes():
    z, t, _ = _batch()
    p = F.softmax(t, dim=1)
    per_example = -(p * F.log_softmax(z, dim=1)).sum(1)
    assert losses.ban_loss(z, t).item() == pytest.approx(per_example.mean().item(), rel=1e-12)
    # a KL or cross-entropy left at reduction="mean" over the b × n entries would be n times smaller
    assert losses.ban_loss(z, t).item() != pytest.approx(per_example.sum().item() / z.numel(), rel=1e-3)


def test_a_tempered_student_takes_first_steps_no_larger_than_at_t_1():
    plan = study_plan(replace(get_preset("mnist-mlp"), temperatures=(2.0, 4.0)))
    z = torch.tensor([[0.0, 100.0]], requires_grad=True)  # a student sure of the class its teacher rules out
    t = torch.tensor([[100.0, 0.0]])
    for spec in plan:
        grad, = torch.autograd.grad(losses.ban_loss(z, t, T=spec.temperature), z)
        step = spec.lr_factor * grad.abs().max().item()  # the largest step per unit of the preset's learning rate
        assert step == pytest.approx(1.0, rel=1e-6), spec.name  # as cross-entropy's: at T it would be T


class _NoisyTeacher(nn.Module):
    """A teacher with BatchNorm and dropout: in train mode its outputs change and its running statistics move."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(784, 32), nn.BatchNorm1d(32), nn.ReLU(), nn.Dropout(0.5),
                                  nn.Linear(32, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


def _tiny_loaders(seed: int = 0) -> tuple[DeviceLoader, DeviceLoader]:
    data = tiny_mnist_like()
    spec = DATASETS["mnist"]
    train = DeviceLoader(data.train_images, data.train_labels, spec, 32, True, CPU,
                         generator=torch.Generator().manual_seed(seed))
    test = DeviceLoader(data.test_images, data.test_labels, spec, 64, False, CPU)
    return train, test


def test_the_teacher_stays_in_eval_mode_and_gets_no_gradient():
    torch.manual_seed(0)
    teacher = _NoisyTeacher()
    teacher.train()
    before = {k: v.clone() for k, v in teacher.state_dict().items()}
    student = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
    train_model(student, losses.build_loss("ban"), *_tiny_loaders(), FP32, CPU, teacher=teacher, progress=False)
    assert not teacher.training
    assert all(p.grad is None and not p.requires_grad for p in teacher.parameters())
    assert all(torch.equal(before[k], v) for k, v in teacher.state_dict().items())  # BatchNorm statistics too


def test_each_generation_starts_from_its_own_fresh_weights(tmp_path, monkeypatch):
    starts = {}
    real_train = born_again.train_model

    def spy(model, *args, **kwargs):
        starts[kwargs["desc"]] = ({k: v.clone() for k, v in model.state_dict().items()}, model, kwargs["teacher"])
        return real_train(model, *args, **kwargs)

    monkeypatch.setattr(born_again, "train_model", spy)
    preset = replace(paper_design(get_preset("mnist-mlp", "smoke")), epochs=1, batch_size=64, generations=2,
                     students=())
    born_again.run_study(preset, [0], tmp_path, CPU, data=tiny_mnist_like(), progress=False, log=lambda _: None)
    teacher, ban1, ban2 = (starts[f"seed 0 {name}"] for name in ("teacher", "ban-1", "ban-2"))
    for (init, model, taught_by), (other_init, other_model, _) in ((ban1, teacher), (ban2, ban1)):
        assert model is not other_model and taught_by is not model
        assert not all(torch.equal(init[k], other_init[k]) for k in init)  # not the same initial weights


def test_the_recorded_model_is_the_last_epoch_never_the_best_test_epoch(tmp_path):
    preset = replace(paper_design(get_preset("mnist-mlp", "smoke")), epochs=3, batch_size=64, generations=1,
                     students=())
    born_again.run_study(preset, [0], tmp_path, CPU, data=tiny_mnist_like(), progress=False, log=lambda _: None)
    for name in ("teacher", "ban-1"):
        record = json.loads((tmp_path / "seed-0" / f"{name}.json").read_text())
        assert record["test_accuracy"] == pytest.approx(record["epochs"][-1]["test_acc"], abs=1e-6)


def test_teacher_and_student_see_the_same_augmented_images():
    seen = {}

    class Recorder(nn.Module):
        def __init__(self, name: str) -> None:
            super().__init__()
            self.name, self.layer = name, nn.Sequential(nn.Flatten(), nn.Linear(784, 10))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            seen.setdefault(self.name, []).append(x.detach().clone())
            return self.layer(x)

    student, teacher = Recorder("student"), Recorder("teacher")
    train, test = _tiny_loaders()
    train_model(student, losses.build_loss("ban"), train, test, FP32, CPU, teacher=teacher, progress=False)
    steps = len(seen["teacher"])
    assert steps > 0 and all(torch.equal(a, b) for a, b in zip(seen["teacher"], seen["student"][:steps]))


def test_the_page_names_every_test_here_and_only_tests_that_exist():
    tests = Path(__file__).resolve().parent
    page = (tests.parent / "book" / "checklist.md").read_text()
    named = set(re.findall(r"`(?:(test_\w+)\.py::)?(test_\w+)`", page))
    here = {name for name in dir(sys.modules[__name__]) if name.startswith("test_")}
    here.discard("test_the_page_names_every_test_here_and_only_tests_that_exist")
    assert {test for file, test in named if not file} == here
    for file, test in named:  # a pitfall guarded by a test of the loss or the trainer names it there
        assert not file or re.search(rf"^def {test}\(", (tests / f"{file}.py").read_text(), re.MULTILINE), test
