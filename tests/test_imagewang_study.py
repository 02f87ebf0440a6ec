"""The ImageWang study: its plan, the unlabelled (unsup/) BAN student, the image-size cap and the ens4 rows."""

from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from bannet import records
from bannet.born_again import run_study
from bannet.cli import main
from bannet.data import EndlessBatches, StudyData, imagewang_files, load_split, load_study_data
from bannet.ensembles import seed_errors
from bannet.losses import ban_loss, build_loss
from bannet.models import build
from bannet.presets import PRESETS, get_preset, study_plan
from bannet.recipes import StepRecipe
from bannet.records import load_study
from bannet.report import study_table
from bannet.results import StudyResults
from bannet.train import TrainStep
from bannet.verdicts import paired_statement
from helpers import paper_design, tiny_mnist_like
from test_distributed import _spawn as spawn

CPU = torch.device("cpu")
NAME = "imagewang-densenet121-resnet18"
LAPTOP = "imagewang-densenet121-resnet18-64px-9ep"
TINY = replace(get_preset(NAME, "smoke"), teacher_arch="preresnet-14", student_arch="preresnet-8", max_image_size=16,
               batch_size=8, train_subset=None, test_subset=None, unlabelled_subset=10)


@pytest.mark.parametrize("name", [NAME, LAPTOP])
def test_plan_has_the_issue_rows(name):
    plan = study_plan(get_preset(name))
    assert [(s.name, s.arch, s.loss, s.teacher, s.unlabelled) for s in plan] == [
        ("teacher", "densenet121", "ce", None, False), ("label", "resnet18", "ce", None, False),
        ("ban-1", "resnet18", "ban", "teacher", False), ("cwtm", "resnet18", "cwtm", "teacher", False),
        ("dkpp", "resnet18", "dkpp", "teacher", False), ("ban-unsup", "resnet18", "ban", "teacher", True)]
    assert get_preset(name).ensemble_of == 4 and len(get_preset(name).seeds) == 4


def test_only_imagewang_has_unlabelled_images_and_its_laptop_study_trains_at_64_pixels():
    assert all(not s.unlabelled for p in PRESETS.values() if p.dataset != "imagewang" for s in study_plan(p))
    assert get_preset(LAPTOP).max_image_size == 64


def test_smoke_profile_caps_image_size_and_unsup_only_where_it_shrinks():
    smoke = get_preset(NAME, "smoke")
    assert (smoke.max_image_size, smoke.unlabelled_subset) == (32, 512)
    assert (get_preset(NAME).max_image_size, get_preset(NAME).unlabelled_subset) == (None, None)
    for arch in (smoke.teacher_arch, smoke.student_arch):  # the ImageNet stems still fit 32-px images
        assert build(arch, 20).eval()(torch.zeros(2, 3, 32, 32)).shape == (2, 20)


def test_load_study_data_downscales_and_reads_unsup_images_only(tiny_imagewang):
    data = load_study_data(TINY, tiny_imagewang, download=False)
    assert data.spec.image_size == 16 and data.spec.augment == "imagewang"
    assert data.train_images.shape == (24, 3, 16, 16) and data.test_images.shape == (8, 3, 16, 16)
    assert data.unlabelled_images.shape == (10, 3, 16, 16) and data.unlabelled_images.dtype == torch.uint8
    assert imagewang_files(tiny_imagewang, "unsup")[1] is None  # unsup/ has no labels to read at all
    full, _ = load_split("imagewang", False, tiny_imagewang, download=False)
    means = data.test_images.float().mean((1, 2, 3)), full.float().mean((1, 2, 3))
    torch.testing.assert_close(*means, atol=1.5, rtol=0)  # antialiased downscaling keeps each image's brightness
    assert load_study_data(replace(TINY, max_image_size=None), tiny_imagewang, download=False).spec.image_size == 128


def test_unlabelled_needs_a_data_set_with_an_unlabelled_split():
    with pytest.raises(ValueError, match="no unlabelled split"):
        load_study_data(replace(paper_design(get_preset("mnist-mlp", "smoke")), unlabelled=True), download=False)


def test_step_loss_is_ban_on_labelled_plus_ban_on_unlabelled():
    torch.manual_seed(0)
    student, teacher = nn.Linear(12, 5), nn.Linear(12, 5)
    x, x_u, y = torch.randn(6, 12), torch.randn(6, 12), torch.randint(0, 5, (6,))
    reference = nn.Linear(12, 5)
    reference.load_state_dict(student.state_dict())
    expected = ban_loss(reference(x), teacher(x).detach()) + ban_loss(reference(x_u), teacher(x_u).detach())
    expected.backward()
    optimizer = torch.optim.SGD(student.parameters(), lr=1.0)
    step = TrainStep(student, build_loss("ban"), optimizer, StepRecipe(epochs=1, precision="fp32"), CPU, teacher)
    loss, logits = step(x, y, x_u)
    torch.testing.assert_close(loss, expected.detach())
    assert not torch.allclose(loss, ban_loss(reference(x), teacher(x)).detach())  # the unlabelled term counts
    assert logits.shape == (6, 5)
    torch.testing.assert_close(student.weight, reference.weight - reference.weight.grad)  # its gradient too
    with pytest.raises(ValueError, match="teacher=None"):
        TrainStep(nn.Linear(12, 5), build_loss("ce"), optimizer, StepRecipe(epochs=1), CPU)(x, y, x_u)


def test_ban_unsup_trains_on_cycled_unsup_batches_and_records_them(tiny_imagewang, tmp_path, monkeypatch):
    drawn = []

    next_batch = EndlessBatches.__next__

    def counted(stream):
        x = next_batch(stream)
        drawn.append(x.shape)
        return x

    monkeypatch.setattr(EndlessBatches, "__next__", counted)
    data = load_study_data(TINY, tiny_imagewang, download=False)
    run_study(TINY, [0], tmp_path, CPU, data=data, progress=False, log=lambda _: None)
    # 24 labelled images make 3 steps of 8; 10 unsup images make 1 batch of 8 per pass: it cycled 3 times
    assert drawn == [(8, 3, 16, 16)] * 3
    for spec in study_plan(TINY):
        record = records.load_record(records.model_files(tmp_path, 0, spec.name).record)
        assert record["model"]["unlabelled"] == spec.unlabelled
        assert record["data"]["unlabelled_size"] == (10 if spec.unlabelled else 0)
        assert record["data"]["image_size"] == 16 and record["preset"]["ensemble_of"] == 4


def _fake_study(folder, seeds, ensemble_of, rng, missing=(), labelled_classes=range(20)):
    """A study folder of hand-made fp16-exact logits: 30 test examples, 20 outputs, one file set per (seed, model);
    the test labels are drawn from labelled_classes."""
    labels = torch.from_numpy(rng.choice(list(labelled_classes), 30))
    teachers = {spec.name: spec.teacher for spec in study_plan(get_preset(NAME))}
    names = list(teachers)
    logits = {}
    for seed in seeds:
        for position, name in enumerate(names):
            if (seed, name) in missing:
                continue
            z = torch.from_numpy(rng.normal(size=(30, 20))).half().float()
            logits[seed, name] = z.numpy()
            model = {"name": name, "teacher": teachers[name]}
            record = {"study": NAME, "profile": "full", "seed": seed, "model": model, "position": position,
                      "preset": {**asdict(get_preset(NAME)), "ensemble_of": ensemble_of}}
            records.save_model(records.model_files(folder, seed, name), record, z, labels, None)
    return logits, labels.numpy()


def _numpy_ensemble_error(members: list[np.ndarray], labels: np.ndarray) -> float:
    probabilities = [np.exp(z - z.max(1, keepdims=True)) for z in members]
    mean = np.mean([p / p.sum(1, keepdims=True) for p in probabilities], axis=0)
    return 100.0 * float(np.mean(mean.argmax(1) != labels))


def test_ensembles_of_four_average_the_right_models(tmp_path):
    rng = np.random.default_rng(0)
    seeds = [0, 1, 2, 3, 4]
    logits, labels = _fake_study(tmp_path, seeds, 4, rng, missing={(4, "dkpp")})
    table = seed_errors(load_study(tmp_path))
    students = ("ban-1", "cwtm", "dkpp", "ban-unsup")
    assert {f"ens4-{m}" for m in students} | {"ens4-label"} == {row for row in table if row.startswith("ens")}
    for model in ("ban-1", "ban-unsup", "cwtm", "label"):  # five seeds hold one disjoint group of four: seeds 0-3
        assert table[f"ens4-{model}"] == pytest.approx({0: _numpy_ensemble_error([logits[s, model] for s in range(4)],
                                                                                labels)})
    all_four = _numpy_ensemble_error([logits[s, "dkpp"] for s in range(4)], labels)
    assert table["ens4-dkpp"] == pytest.approx({0: all_four})  # seed 4 has no dkpp: the same group
    assert len(set(table["ens4-cwtm"].values()) | {table["cwtm"][0]}) > 1  # not a copy of one model's error
    assert "| ens4-label | 1 |" in study_table(StudyResults(load_study(tmp_path)))


def _numpy_error_among(members: list[np.ndarray], labels: np.ndarray, classes: list[int]) -> float:
    probabilities = [np.exp(z - z.max(1, keepdims=True)) for z in members]
    mean = np.mean([p / p.sum(1, keepdims=True) for p in probabilities], axis=0)
    return 100.0 * float(np.mean(np.asarray(classes)[mean[:, classes].argmax(1)] != labels))


def test_errors_among_the_test_sets_classes_ignore_the_other_outputs(tmp_path, capsys):
    dogs = list(range(10, 20))  # as in ImageWang: val/ holds half of the training classes
    logits, labels = _fake_study(tmp_path, [0, 1, 2, 3], 4, np.random.default_rng(2), labelled_classes=dogs)
    assert set(labels) <= set(dogs)
    study = load_study(tmp_path)
    among, anywhere = seed_errors(study, labelled_classes_only=True), seed_errors(study)
    for seed in range(4):
        assert among["cwtm"][seed] == pytest.approx(_numpy_error_among([logits[seed, "cwtm"]], labels, dogs))
    assert among["ens4-label"][0] == pytest.approx(_numpy_error_among([logits[s, "label"] for s in range(4)],
                                                                     labels, dogs))
    assert all(among[row][s] <= anywhere[row][s] for row in anywhere for s in anywhere[row])
    assert any(among[row][s] < anywhere[row][s] for row in anywhere for s in anywhere[row])
    table = study_table(StudyResults(study), labelled_classes_only=True)
    assert "among the test set's classes" in table and "the 10 classes of the test labels" in table
    assert main(["report", str(tmp_path), "--labelled-classes-only"]) == 0
    assert table in capsys.readouterr().out
    for labelled_classes_only, errors in ((False, anywhere), (True, among)):
        said = paired_statement(StudyResults(study), "cwtm", "ban-1", labelled_classes_only)
        mean = np.mean([errors["cwtm"][s] - errors["ban-1"][s] for s in range(4)])
        assert said.startswith("- **cwtm**") and f"paired difference {mean:+.2f} points" in said


@pytest.mark.parametrize("seeds, ensemble_of", [([0, 1, 2], 4), ([0, 1, 2, 3], None)])
def test_no_ensembles_of_four_without_four_seeds_or_the_setting(tmp_path, seeds, ensemble_of):
    _fake_study(tmp_path, seeds, ensemble_of, np.random.default_rng(1))
    assert not any(row.startswith("ens") for row in seed_errors(load_study(tmp_path)))


UNLABELLED_MLP = replace(paper_design(get_preset("mnist-mlp", "smoke")), epochs=2, batch_size=64, generations=0,
                         students=(), unlabelled=True)


def _mlp_data_with_unlabelled_images() -> StudyData:
    return replace(tiny_mnist_like(), unlabelled_images=tiny_mnist_like(seed=1).train_images[:200])


def _train_unlabelled_study(device: torch.device, out: Path) -> None:
    run_study(UNLABELLED_MLP, [0], out, device, data=_mlp_data_with_unlabelled_images(), progress=False,
              log=lambda _: None, precision="fp32")  # 2 × 32 and 1 × 64 sum in another order: keep it at rounding


def test_two_ranks_learn_from_their_unsup_shards_like_one_process(tmp_path):
    """MLP (no BatchNorm): 2 gloo ranks × (32 labelled + 32 unsup) give one process's ban-unsup on 64 + 64."""
    single, parallel = tmp_path / "single", tmp_path / "ddp"
    _train_unlabelled_study(CPU, single)
    spawn(_train_unlabelled_study, parallel)
    expected = records.load_checkpoint(records.model_files(single, 0, "ban-unsup"))
    got = records.load_checkpoint(records.model_files(parallel, 0, "ban-unsup"))
    for key in expected:
        torch.testing.assert_close(got[key], expected[key], rtol=1e-4, atol=1e-5, msg=key)
    record = records.load_record(records.model_files(parallel, 0, "ban-unsup").record)
    assert record["parallel"]["world_size"] == 2 and record["data"]["unlabelled_size"] == 200
