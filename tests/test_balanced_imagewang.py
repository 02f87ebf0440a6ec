"""ImageWang trained on its imbalance: logit-adjusted label rows, the held-out part of the training set, what each
record states, and the pilot that selects on the held-out part (benchmarks/imagewang_pilot.py)."""

import argparse
import json
import sys
from dataclasses import asdict, replace
from pathlib import Path

import pytest
import torch
from torch import nn

from bannet import born_again, records
from bannet.born_again import run_study
from bannet.data import load_split, load_study_data
from bannet.data.holdout import holdout_indices
from bannet.errors import InvalidInput
from bannet.final_measures import holdout_errors
from bannet.losses import build_loss
from bannet.measures import unlabelled_share_pct
from bannet.precision import resolve_precision
from bannet.presets import get_preset, study_plan
from bannet.recipes import recipe_for
from bannet.records import load_study
from bannet.study_loaders import StudyLoaders
from bannet.study_settings import differing, run_settings, training_settings
from helpers import paper_design, tiny_mnist_like, write_tiny_imagewang

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
import imagewang_pilot  # noqa: E402

CPU = torch.device("cpu")
NAME = "imagewang-balanced-densenet121-resnet18"
LAPTOP = "imagewang-densenet121-resnet18-64px-9ep"
TINY = replace(get_preset(NAME, "smoke"), teacher_arch="preresnet-14", student_arch="preresnet-8", max_image_size=16,
               batch_size=8, train_subset=None, test_subset=None, unlabelled_subset=None, holdout_per_class=2)
quiet = {"progress": False, "log": lambda _: None}


@pytest.fixture(scope="module")
def wang20(tmp_path_factory) -> Path:
    """A tiny ImageWang of all 20 classes: 6 training images each, 2 of each of the last 10 (the 'dogs') in val/."""
    return write_tiny_imagewang(tmp_path_factory.mktemp("data"), train_per_class=6, val_per_class=2, unsup=8,
                                classes=20)


def test_the_balanced_study_keeps_the_design_and_trains_its_label_rows_with_logit_adjustment():
    preset = get_preset(NAME)
    assert [(s.name, s.arch, s.loss, s.teacher, s.unlabelled) for s in study_plan(preset)] == [
        ("teacher", "densenet121", "logit-adjusted", None, False), ("label", "resnet18", "logit-adjusted", None, False),
        ("ban-1", "resnet18", "ban", "teacher", False), ("cwtm", "resnet18", "cwtm", "teacher", False),
        ("dkpp", "resnet18", "dkpp", "teacher", False), ("ban-unsup", "resnet18", "ban", "teacher", True)]
    assert (preset.logit_adjustment, preset.holdout_per_class, preset.ensemble_of, preset.seeds) == (1.0, 20, 4,
                                                                                                      (0, 1, 2, 3))
    assert "PROVISIONAL" in preset.description and 64 <= preset.max_image_size <= 128
    old = get_preset(LAPTOP)  # the recorded study trains as it did
    assert (old.label_loss, old.logit_adjustment, old.holdout_per_class) == ("ce", 0.0, None)


def test_every_label_trained_row_and_no_other_takes_the_presets_label_loss():
    preset = replace(get_preset("mnist-mlp"), logit_adjustment=0.5)
    losses = {spec.name: spec.loss for spec in study_plan(preset)}
    assert {name for name, loss in losses.items() if loss == "logit-adjusted"} == {"teacher", "indep-2", "indep-3",
                                                                                   "teacher-2x"}
    assert (losses["ls"], losses["ban-1"], losses["cwtm"], losses["ban-1-t2"]) == ("ls", "ban", "cwtm", "ban")
    plain = {spec.name: spec.loss for spec in study_plan(get_preset("mnist-mlp"))}
    assert {name for name, loss in plain.items() if loss == "ce"} == {"teacher", "indep-2", "indep-3", "teacher-2x"}


def _shuffled_labels() -> torch.Tensor:
    labels = torch.arange(5).repeat_interleave(torch.tensor([10, 7, 4, 12, 5]))
    return labels[torch.randperm(len(labels), generator=torch.Generator().manual_seed(1))]


def test_the_holdout_is_stratified_random_and_the_same_whatever_the_global_seed():
    labels = _shuffled_labels()
    torch.manual_seed(123)
    kept, held = holdout_indices(labels, 2)
    torch.manual_seed(456)
    assert all(torch.equal(a, b) for a, b in zip((kept, held), holdout_indices(labels, 2)))
    assert torch.bincount(labels[held]).tolist() == [2] * 5
    assert sorted(kept.tolist() + held.tolist()) == list(range(len(labels)))
    assert torch.equal(held, held.sort().values) and torch.equal(kept, kept.sort().values)
    first_two = torch.cat([(labels == c).nonzero().squeeze(1)[:2] for c in range(5)]).sort().values
    assert not torch.equal(held, first_two)  # drawn, not the first images of each class
    assert set(held.tolist()) < set(holdout_indices(labels, 3)[1].tolist())  # a larger holdout keeps these


@pytest.mark.parametrize(("per_class", "message"), [
    (4, r"^holdout_per_class 4 needs more than 4 training images in every class, but class 2 has 4: hold out fewer "
        r"images per class$"),
    (0, "holdout_per_class must be a positive integer or None, got 0"),
    (True, "holdout_per_class must be a positive integer or None, got True"),
    (2.5, "holdout_per_class must be a positive integer or None, got 2.5"),
])
def test_a_holdout_a_class_cannot_give_is_refused_in_one_line(per_class, message):
    with pytest.raises(InvalidInput, match=message):
        holdout_indices(_shuffled_labels(), per_class)


def test_the_held_out_images_are_set_aside_before_the_training_subset_and_never_trained_on(wang20):
    data = load_study_data(TINY, wang20, download=False)
    _, labels = load_split("imagewang", True, wang20, download=False)
    kept, held = holdout_indices(labels, 2)
    assert torch.equal(data.holdout_labels, labels[held]) and torch.equal(data.train_labels, labels[kept])
    assert data.holdout_images.shape == (40, 3, 16, 16) and data.train_images.shape == (80, 3, 16, 16)
    assert not any(torch.equal(image, trained) for image in data.holdout_images for trained in data.train_images)
    subset = load_study_data(replace(TINY, train_subset=30, unlabelled=False), wang20, download=False)
    assert torch.equal(subset.holdout_labels, data.holdout_labels) and len(subset.train_labels) == 30
    with pytest.raises(InvalidInput, match="class 0 has 6"):
        load_study_data(replace(TINY, holdout_per_class=6), wang20, download=False)


def test_held_out_errors_are_top1_over_every_output_on_all_and_on_the_test_sets_classes(wang20):
    data = load_study_data(replace(TINY, unlabelled=False), wang20, download=False)
    loaders = StudyLoaders(data, CPU, recipe_for(TINY, "fp32"), resolve_precision("fp32", CPU))
    always_15 = nn.Sequential(nn.Flatten(), nn.Linear(3 * 16 * 16, 20))
    nn.init.zeros_(always_15[1].weight)
    with torch.no_grad():
        always_15[1].bias.copy_(torch.eye(20)[15])
    # 2 of the 40 held-out images are of class 15; 20 are of the test set's classes 10-19
    assert holdout_errors(always_15, loaders, recipe_for(TINY, "fp32")) == {
        "holdout_error_pct": pytest.approx(95.0), "holdout_test_classes_error_pct": pytest.approx(90.0)}


def test_a_balanced_study_records_what_each_model_trained_with_and_its_held_out_errors(wang20, tmp_path, monkeypatch):
    built = []
    monkeypatch.setattr(born_again, "build_loss", lambda name, **kw: built.append((name, kw)) or build_loss(name, **kw))
    data = load_study_data(TINY, wang20, download=False)
    run_study(TINY, [0], tmp_path, CPU, data=data, **quiet)
    priors = (torch.bincount(data.train_labels, minlength=20) / len(data.train_labels)).tolist()
    adjusted = {"tau": 1.0, "priors": pytest.approx(priors)}
    assert built == [("logit-adjusted", adjusted), ("logit-adjusted", adjusted), ("ban", {}), ("cwtm", {}),
                     ("dkpp", {"seed": born_again.derived_seed(0, "dkpp")}), ("ban", {})]
    for spec in study_plan(TINY):
        record = records.load_record(records.model_files(tmp_path, 0, spec.name).record)
        assert record["model"]["loss"] == spec.loss
        assert record["loss_settings"] == (adjusted if spec.teacher is None else {})
        assert (record["data"]["train_size"], record["data"]["holdout_size"]) == (80, 40)
        assert isinstance(record["holdout_error_pct"], float)
        assert isinstance(record["holdout_test_classes_error_pct"], float)
    assert load_study(tmp_path).skipped == []


def test_logit_adjustment_refuses_a_class_without_training_images_before_anything_trains(tiny_imagewang, tmp_path,
                                                                                        no_training):
    four_classes = replace(TINY, holdout_per_class=None, unlabelled=False)
    with pytest.raises(InvalidInput, match=r"^preset imagewang-balanced-densenet121-resnet18: logit adjustment needs "
                                           r"training images of every class, but 16 of its 20 classes have none "
                                           r"\(4, 5, .*, 19\): give the study more training images"):
        run_study(four_classes, [0], tmp_path, CPU, root=tiny_imagewang, download=False, **quiet)
    assert not list(tmp_path.rglob("*.json"))


@pytest.mark.parametrize(("change", "message"), [
    ({"logit_adjustment": -1.0}, r"logit_adjustment: tau must be a finite number >= 0, got -1.0"),
    ({"logit_adjustment": float("nan")}, r"logit_adjustment: tau must be a finite number >= 0, got nan"),
    ({"holdout_per_class": 2}, "holds out 2 training images per class, but the data given has no held-out part"),
])
def test_bad_balancing_settings_stop_the_run_before_training(change, message, tmp_path, no_training):
    preset = replace(paper_design(get_preset("mnist-mlp", "smoke")), **change)
    with pytest.raises(InvalidInput, match=message):
        run_study(preset, [0], tmp_path, CPU, data=tiny_mnist_like(), **quiet)


def test_logit_adjustment_and_the_holdout_are_training_settings_that_older_records_lacked():
    preset = get_preset(NAME)
    recipe = recipe_for(preset)
    ours = run_settings(preset, recipe)
    assert differing(ours, run_settings(replace(preset, logit_adjustment=0.5), recipe)) == ["logit_adjustment"]
    assert differing(ours, run_settings(replace(preset, holdout_per_class=10), recipe)) == ["holdout_per_class"]
    laptop = get_preset(LAPTOP)
    older = json.loads(json.dumps({"profile": "full", "preset": asdict(laptop), "train": recipe_for(laptop).to_dict()}))
    del older["preset"]["logit_adjustment"], older["preset"]["holdout_per_class"]
    assert training_settings(older) == run_settings(laptop, recipe_for(laptop))


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip("|").split("|")]


def test_the_pilot_trains_each_candidate_and_tables_it_for_selection_on_the_held_out_part(wang20, tmp_path, capsys):
    imagewang_pilot.main(["--profile", "smoke", "--data", str(wang20), "--out", str(tmp_path), "--teacher",
                          "preresnet-8", "--holdout-per-class", "2", "--candidates", "32:1:1", "32:1:0"])
    printed = capsys.readouterr().out
    rows = [_cells(line) for line in printed.splitlines() if line.startswith("| preresnet-8")]
    assert [(row[1], row[2], row[3], row[4]) for row in rows] == [("teacher", "32", "1", "0"),
                                                                  ("teacher", "32", "1", "1")]
    for row, tau in zip(rows, ("0", "1")):
        study = load_study(tmp_path / f"{NAME}-preresnet-8-32px-1ep-tau{tau}-smoke")
        model = study.models[0]["teacher"]
        assert model.record["model"]["loss"] == ("ce" if tau == "0" else "logit-adjusted")
        assert row[6:9] == [f"{100 - model.record[key]:.2f}" for key in
                            ("holdout_error_pct", "holdout_test_classes_error_pct", "test_error_pct")]
        assert row[10] == f"{100 - unlabelled_share_pct(model.logits, model.labels):.1f}"
    assert imagewang_pilot.SELECTION in printed
    imagewang_pilot.main(["--out", str(tmp_path), "--table-only"])
    table_only = capsys.readouterr().out
    assert table_only.startswith("| network") and printed.endswith(table_only)


@pytest.mark.parametrize("text", ["64:9", "64:0:1", "4:9:1", "64:9:-1", "64:9:nan", "a:b:c", "64:9:1:2"])
def test_the_pilot_refuses_a_malformed_candidate(text):
    with pytest.raises(argparse.ArgumentTypeError, match="give SIZE:EPOCHS:TAU"):
        imagewang_pilot.candidate(text)
    assert imagewang_pilot.candidate("96:12:1") == (96, 12, 1.0)


def test_the_pilot_refuses_a_preset_with_nothing_held_out(tmp_path, capsys, no_training):
    with pytest.raises(SystemExit):
        imagewang_pilot.main(["--preset", LAPTOP, "--out", str(tmp_path), "--candidates", "64:1:1"])
    assert f"{LAPTOP} sets no held-out part to select on" in capsys.readouterr().err
