"""The trainer: schedule, learning on a tiny set, guards against misuse."""

import pytest
import torch

from bannet.data import DeviceLoader
from bannet.losses import build_loss
from bannet.models import build
from bannet.recipes import StepRecipe
from bannet.train import train_model


def test_schedule_steps_at_30_60_80_percent():
    config = StepRecipe(epochs=10)
    assert [round(config.lr_at(e), 6) for e in range(10)] == [0.1] * 3 + [0.02] * 3 + [0.004] * 2 + [0.0008] * 2


@pytest.mark.parametrize("bad", [{"epochs": 0}, {"epochs": 3, "lr": 0.0}, {"epochs": 3, "milestones": (1.5,)}])
def test_bad_config_is_refused(bad):
    with pytest.raises(ValueError):
        StepRecipe(**bad)


def _loaders(data, batch_size=64):
    cpu = torch.device("cpu")
    make = lambda x, y, train: DeviceLoader(x, y, data.spec, batch_size, train, cpu,
                                            generator=torch.Generator().manual_seed(0))
    return make(data.train_images, data.train_labels, True), make(data.test_images, data.test_labels, False)


def test_trains_to_high_accuracy_on_a_learnable_set(tiny_data):
    torch.manual_seed(0)
    train, test = _loaders(tiny_data)
    result = train_model(build("mlp", 10), build_loss("ce"), train, test, StepRecipe(epochs=4), torch.device("cpu"),
                         progress=False)
    assert len(result.history) == 4
    assert result.test_accuracy > 0.9
    assert result.test_logits.shape == (128, 10) and torch.equal(result.test_labels, tiny_data.test_labels)


def test_student_learns_from_a_teacher_and_teacher_is_untouched(tiny_data):
    torch.manual_seed(0)
    train, test = _loaders(tiny_data)
    config = StepRecipe(epochs=3)
    teacher = build("mlp", 10)
    train_model(teacher, build_loss("ce"), train, test, config, torch.device("cpu"), progress=False)
    before = [p.clone() for p in teacher.parameters()]
    result = train_model(build("mlp", 10), build_loss("ban"), train, test, config, torch.device("cpu"),
                         teacher=teacher, progress=False)
    assert result.test_accuracy > 0.8
    assert all(torch.equal(a, b) for a, b in zip(before, teacher.parameters()))


def test_misuse_is_refused(tiny_data):
    train, test = _loaders(tiny_data)
    model = build("mlp", 10)
    with pytest.raises(ValueError, match="needs a teacher"):
        train_model(model, build_loss("ban"), train, test, StepRecipe(epochs=1), torch.device("cpu"), progress=False)
    with pytest.raises(ValueError, match="separate model"):
        train_model(model, build_loss("ban"), train, test, StepRecipe(epochs=1), torch.device("cpu"),
                    teacher=model, progress=False)
