"""A teacher and its born-again student's test outputs for the first chapter: the recorded MNIST pair, else a pair
trained here on MNIST, else a synthetic stand-in that says so."""

import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from bannet import records
from bannet.born_again import run_study
from bannet.chapter import current_profile
from bannet.data import load_split, load_study_data
from bannet.presets import get_preset
from bannet.recorded import RESULTS_DIR


@dataclass
class TeacherAndStudent:
    """Test outputs of a teacher and its born-again student, the labels, the images when at hand, and their source."""

    teacher_logits: torch.Tensor
    student_logits: torch.Tensor
    labels: torch.Tensor
    images: torch.Tensor | None
    source: str


def _synthetic_outputs(n: int = 2_000, classes: int = 10) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """NOT MNIST: teacher logits that favour the true class c and its neighbours c ± 1, a noisier student, labels."""
    generator = torch.Generator().manual_seed(0)
    labels = torch.randint(classes, (n,), generator=generator)
    one_hot = torch.nn.functional.one_hot
    neighbours = one_hot((labels + 1) % classes, classes) + one_hot((labels - 1) % classes, classes)
    teacher = 9.0 * one_hot(labels, classes) + 4.0 * neighbours + 1.5 * torch.randn(n, classes, generator=generator)
    return teacher, teacher + 2.0 * torch.randn(n, classes, generator=generator), labels


def _train_mnist_pair(study_dir: Path, device: torch.device) -> torch.Tensor:
    """Train a teacher MLP and its born-again student (2 epochs each) on a subset of MNIST into study_dir, recorded
    like the study; returns the test images."""
    smoke = current_profile() == "smoke"
    preset = replace(get_preset("mnist-mlp"), profile=current_profile(), epochs=2, generations=1, students=(),
                     train_subset=1_000 if smoke else 20_000, test_subset=2_000 if smoke else None)
    data = load_study_data(preset, download=False)
    run_study(preset, [0], study_dir, device, data=data, progress=False, log=lambda line: None)
    return data.test_images


def mnist_teacher_and_student(device: torch.device, results_dir: str | Path = RESULTS_DIR) -> TeacherAndStudent:
    """The recorded MNIST teacher and ban-1 of seed 0; else a pair trained here on MNIST; else a synthetic stand-in."""
    try:
        test_images, test_labels = load_split("mnist", train=False, download=False)
    except FileNotFoundError:
        test_images = test_labels = None
    study_dir, images = Path(results_dir) / "mnist-mlp", None
    if all(records.model_files(study_dir, 0, m).logits.is_file() for m in ("teacher", "ban-1")):
        source = "recorded: results/mnist-mlp, seed 0 (teacher and its student ban-1)"
    elif test_images is not None:
        source = "trained here: teacher and born-again student, 2 epochs on a subset of MNIST"
        study_dir = Path(tempfile.mkdtemp())
        images = _train_mnist_pair(study_dir, device)
    else:
        teacher, student, labels = _synthetic_outputs()
        return TeacherAndStudent(teacher, student, labels, None,
                                 "SYNTHETIC stand-in (no recorded logits, no MNIST under the data root)")
    teacher, labels = records.load_logits(records.model_files(study_dir, 0, "teacher").logits)
    student, _ = records.load_logits(records.model_files(study_dir, 0, "ban-1").logits)
    if images is None and test_labels is not None and torch.equal(test_labels, labels):
        images = test_images  # the recorded logits follow the order of the test split
    return TeacherAndStudent(teacher, student, labels, images, source)
