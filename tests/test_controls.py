"""The controls the paper lacked: seed-paired independent ensembles, equal compute, label smoothing, fidelity."""

from dataclasses import replace

import pytest
import torch

from bannet import records
from bannet.born_again import run_study
from bannet.ensembles import ensemble_probabilities, seed_errors, top1_error_pct
from bannet.errors import InvalidInput
from bannet.losses import build_loss
from bannet.presets import PRESETS, get_preset, required_models, seed_plan, study_plan
from bannet.records import load_study
from bannet.report import format_fidelity
from bannet.results import StudyResults
from helpers import tiny_cifar_like, tiny_mnist_like

CPU = torch.device("cpu")
CONTROLS = replace(get_preset("mnist-mlp", "smoke"), epochs=1, batch_size=64, generations=2, students=("cwtm",),
                   independent_models=1, equal_compute=True, label_smoothing=True, temperatures=(2.0,))
quiet = {"progress": False, "log": lambda _: None}


def test_the_plan_adds_each_control_after_the_students():
    plan = study_plan(CONTROLS)
    assert [(s.name, s.loss, s.teacher, s.epochs_factor, s.smoothing_from) for s in plan] == [
        ("teacher", "ce", None, 1, None), ("ban-1", "ban", "teacher", 1, None), ("ban-2", "ban", "ban-1", 1, None),
        ("cwtm", "cwtm", "teacher", 1, None), ("ban-1-t2", "ban", "teacher", 1, None), ("ls", "ls", None, 1, "teacher"),
        ("indep-2", "ce", None, 1, None),
        ("teacher-2x", "ce", None, 2, None)]
    assert [s.lr_factor for s in plan if s.name == "ban-1-t2"] == [0.5]  # the T-times larger gradient, offset
    assert {s.lr_factor for s in plan if s.name != "ban-1-t2"} == {1.0}
    assert [s.name for s in required_models(plan, ["ban-2", "ls"])] == ["teacher", "ban-1", "ban-2", "ls"]
    with pytest.raises(InvalidInput, match="--models ban-9: not in this study"):
        required_models(plan, ["ban-9"])


@pytest.fixture(scope="module")
def controls_study(tmp_path_factory):
    out = tmp_path_factory.mktemp("controls")
    run_study(CONTROLS, [0, 1], out, CPU, data=tiny_mnist_like(), **quiet)
    return out


def test_records_of_the_controls(controls_study):
    record = lambda name: records.load_record(records.model_files(controls_study, 0, name).record)
    confidence = record("teacher")["train_confidence"]
    assert confidence["images"] == 256 and confidence["augmentation"] == "none"
    assert confidence["mean_max_prob"] + confidence["mean_non_top_mass"] == pytest.approx(1.0)
    assert record("ls")["loss_settings"] == {"mass": confidence["mean_non_top_mass"]}
    assert record("ban-1-t2")["loss_settings"] == {"T": 2.0} and record("ban-1-t2")["model"]["temperature"] == 2.0
    assert record("ban-1-t2")["train"]["lr"] == CONTROLS.lr / 2 and record("ban-1")["train"]["lr"] == CONTROLS.lr
    assert record("ban-1")["loss_settings"] == {}
    assert "train_confidence" in record("ban-1") and "train_confidence" not in record("ban-2")  # ban-2 teaches no one
    assert len(record("teacher-2x")["epochs"]) == 2 * len(record("teacher")["epochs"])
    assert record("teacher-2x")["train"]["epochs"] == 2 * CONTROLS.epochs
    teacher = records.load_checkpoint(records.model_files(controls_study, 0, "teacher"))
    sibling = records.load_checkpoint(records.model_files(controls_study, 0, "indep-2"))
    assert not all(torch.equal(teacher[k], sibling[k]) for k in teacher)  # its own seed


def test_independent_ensembles_pair_with_bane_by_seed(controls_study):
    study = load_study(controls_study)
    table = seed_errors(study)
    assert set(table["ens-2"]) == set(table["bane-2"]) == {0, 1}  # one per seed, not disjoint groups of seeds
    for seed in (0, 1):
        members = [study.models[seed][m].logits for m in ("teacher", "indep-2")]
        labels = study.models[seed]["teacher"].labels
        assert table["ens-2"][seed] == top1_error_pct(ensemble_probabilities(members), labels)
    assert {"ls", "teacher-2x", "indep-2"} <= table.keys()


def test_fidelity_of_each_student_to_its_own_teacher(controls_study):
    study = load_study(controls_study)
    rows = {row.name: row for row in StudyResults(study).fidelity}
    assert set(rows) == {"ban-1", "ban-2", "cwtm", "ban-1-t2", "indep-2"} and rows["ban-2"].teacher == "ban-1"
    assert rows["indep-2"].teacher == "teacher" and rows["indep-2"].reference and not rows["ban-2"].reference
    student, teacher = study.models[1]["ban-2"], study.models[1]["ban-1"]
    expected = 100 * (student.outputs.predictions == teacher.outputs.predictions).double().mean().item()
    assert rows["ban-2"].agreement[1] == expected and all(kl >= 0 for kl in rows["ban-2"].kl.values())
    p = teacher.logits.double().softmax(1)
    expected_kl = torch.nn.functional.kl_div(student.logits.double().log_softmax(1), p, reduction="batchmean").item()
    assert rows["ban-2"].kl[1] == pytest.approx(expected_kl)
    assert "| ban-2 | ban-1 | 2 |" in format_fidelity(list(rows.values()))
    assert "| indep-2 | teacher (reference: independent, no distillation) | 2 |" in format_fidelity(list(rows.values()))
    assert format_fidelity([]) == "No student is recorded beside its teacher yet."  # a study of its teacher alone


def test_models_trains_only_what_is_named_and_needed(tmp_path, tiny_data):
    run_study(CONTROLS, [3], tmp_path, CPU, data=tiny_data, models=["ban-1"], **quiet)
    assert {p.stem for p in (tmp_path / "seed-3").glob("*.json")} == {"teacher", "ban-1"}


def test_a_primary_seed_trains_only_the_primary_comparison(tmp_path, tiny_data):
    design = replace(CONTROLS, seeds=(0,), primary_seeds=(3,))
    assert design.design_seeds == (0, 3)
    assert [s.name for s in seed_plan(design, 3)] == ["teacher", "ban-1"]
    assert seed_plan(design, 0) == study_plan(design)
    run_study(design, [3], tmp_path, CPU, data=tiny_data, **quiet)
    assert {p.stem for p in (tmp_path / "seed-3").glob("*.json")} == {"teacher", "ban-1"}
    chain = replace(design, primary_models=("ban-2",))
    assert [s.name for s in seed_plan(chain, 3)] == ["teacher", "ban-1", "ban-2"]


@pytest.mark.parametrize("preset", PRESETS.values(), ids=lambda preset: preset.name)
def test_each_presets_primary_seeds_are_new_and_its_primary_models_in_its_plan(preset):
    assert not set(preset.seeds) & set(preset.primary_seeds)
    assert {spec.name for spec in seed_plan(preset, -1)} >= set(preset.primary_models)


def test_a_temperature_student_is_trained_with_its_temperature(tmp_path, monkeypatch):
    from bannet import born_again

    built = []
    monkeypatch.setattr(born_again, "build_loss", lambda name, **kw: built.append((name, kw)) or build_loss(name, **kw))
    only = replace(CONTROLS, generations=0, students=(), independent_models=0, equal_compute=False,
                   label_smoothing=False, temperatures=(4.0,))
    run_study(only, [0], tmp_path, CPU, data=tiny_mnist_like(), **quiet)
    assert built == [("ce", {}), ("ban", {"T": 4.0})]


def test_a_diverging_model_stops_the_study_with_one_line_and_keeps_what_is_recorded(tmp_path, monkeypatch):
    from bannet import born_again
    from bannet.errors import Diverged

    built = born_again.build_loss

    def diverging_students(name, **settings):
        loss = built(name, **settings)
        if name != "ce":
            forward = loss.forward
            loss.forward = lambda z, t, y: forward(z * float("nan"), t, y)  # the student's logits turn to nan
        return loss

    monkeypatch.setattr(born_again, "build_loss", diverging_students)
    preset = replace(CONTROLS, generations=1, students=(), independent_models=0, equal_compute=False,
                     label_smoothing=False, temperatures=())
    with pytest.raises(Diverged, match=r"^seed 0 ban-1 diverged at learning rate 0.1 \(student_logits contain "
                                       r"non-finite values \(nan or inf\)\); it is not recorded"):
        run_study(preset, [0], tmp_path, CPU, data=tiny_mnist_like(), **quiet)
    assert records.is_finished(records.model_files(tmp_path, 0, "teacher"))
    assert not records.model_files(tmp_path, 0, "ban-1").record.exists()


def test_independent_models_are_siblings_of_the_control_in_its_architecture():
    crossed = replace(CONTROLS, teacher_arch="mlp", student_arch="wrn-10-1", independent_models=2)
    plan = {spec.name: spec for spec in study_plan(crossed)}
    assert plan["label"].arch == plan["indep-2"].arch == plan["indep-3"].arch == "wrn-10-1"


def test_a_cross_architecture_study_can_add_its_students_own_family_as_teacher(tmp_path):
    crossed = replace(CONTROLS, dataset="cifar10", teacher_arch="wrn-10-1", student_arch="preresnet-8", generations=1,
                      students=(), independent_models=0, equal_compute=False, label_smoothing=False, temperatures=(),
                      same_family=True)
    plan = {spec.name: spec for spec in study_plan(crossed)}
    assert list(plan) == ["teacher", "label", "ban-1", "ban-1-same"]
    assert (plan["ban-1-same"].arch, plan["ban-1-same"].teacher, plan["ban-1-same"].loss) == ("preresnet-8", "label",
                                                                                             "ban")
    assert "ban-1-same" not in {spec.name for spec in study_plan(replace(crossed, teacher_arch="preresnet-8"))}
    run_study(crossed, [0], tmp_path, CPU, data=tiny_cifar_like(), **quiet)
    row = StudyResults(records.load_study(tmp_path)).row("ban-1", "ban-1-same")
    both = records.load_study(tmp_path).models[0]
    assert row.diffs == {0: pytest.approx(both["ban-1"].error_pct - both["ban-1-same"].error_pct)}
