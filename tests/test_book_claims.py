"""What a chapter's prose says in words about a committed study (beside the sentences the code generates) still
holds for the records: retraining that changed a verdict would fail here and point at the paragraph to rewrite."""

from pathlib import Path

import pytest

from bannet.paper import recorded_setting
from bannet.records import Study, load_study
from bannet.report import fidelity, holm_tests, mean_max_probability, seed_errors, summarize, verdict
from bannet.stats import mean_ci

RESULTS = Path(__file__).resolve().parent.parent / "results"


def _verdicts(study: Study, baseline: str, labelled_classes_only: bool = False) -> dict[str, str]:
    rows = summarize(study, baseline, labelled_classes_only=labelled_classes_only)
    return {row.name: verdict(row) for row in rows if row.diff_n > 0}


@pytest.fixture(scope="module")
def mnist():
    return load_study(RESULTS / "mnist-mlp")


def test_chapter_03_the_teacher_shows_its_students_almost_the_labels(mnist):
    for seed in mnist.seeds:
        assert mnist.record(seed, "teacher")["train_confidence"]["mean_non_top_mass"] < 0.01


def test_chapter_03_an_even_spread_of_the_teachers_mass_beats_the_teachers_own(mnist):
    assert _verdicts(mnist, "teacher")["ls"] == "better"
    against_ban = _verdicts(mnist, "ban-1")
    assert against_ban["ls"] == "better"
    assert against_ban["cwtm"] == against_ban["dkpp"] == "no difference"


def test_chapter_03_a_higher_temperature_copies_the_teacher_more_closely_and_does_no_better(mnist):
    against_ban, against_teacher = _verdicts(mnist, "ban-1"), _verdicts(mnist, "teacher")
    for student in ("ban-1-t2", "ban-1-t4"):
        assert against_ban[student] == "no difference" and against_teacher[student] == "worse"
    agreement = {row.name: sum(row.agreement.values()) / len(row.agreement) for row in fidelity(mnist)}
    assert agreement["ban-1"] < agreement["ban-1-t2"] and agreement["ban-1"] < agreement["ban-1-t4"]


def test_chapter_03_more_training_from_labels_beats_a_student(mnist):
    assert _verdicts(mnist, "teacher-2x")["ban-1"] == "worse"


def test_chapter_03_generations_lose_ground_and_ensemble_worse_than_independent_models(mnist):
    rows = {row.name: row for row in summarize(mnist, "teacher")}
    assert rows["teacher"].mean < rows["ban-1"].mean < rows["ban-2"].mean < rows["ban-3"].mean
    assert verdict(rows["ban-2"]) == verdict(rows["ban-3"]) == "worse"
    for k in (2, 3):
        assert _verdicts(mnist, f"ens-{k}")[f"bane-{k}"] == "worse"


def test_chapter_03_longer_training_does_not_change_the_sign(mnist):
    long = load_study(RESULTS / "mnist-mlp-20ep")
    short_rows = {row.name: row for row in summarize(mnist, "teacher")}
    long_rows = {row.name: row for row in summarize(long, "teacher")}
    for name in ("teacher", "ban-1", "ban-2", "ban-3", "teacher-2x"):
        assert long_rows[name].mean < short_rows[name].mean, name
    for seed in long.seeds:
        confidence = long.record(seed, "teacher")["train_confidence"]["mean_non_top_mass"]
        assert confidence < mnist.record(seed, "teacher")["train_confidence"]["mean_non_top_mass"]
    assert all(verdict(long_rows[f"ban-{k}"]) != "better" for k in (1, 2, 3))
    assert verdict(long_rows["ban-3"]) == "worse"
    assert _verdicts(long, "teacher-2x")["ban-1"] == "worse"


@pytest.fixture(scope="module")
def cifar100():
    return load_study(RESULTS / "cifar100-wrn-16-2-9ep")


def test_chapter_05_a_short_teacher_has_not_fit_its_training_images_and_is_barely_surer_of_them(cifar100):
    for seed in cifar100.seeds:
        teacher = cifar100.models[seed]["teacher"]
        on_test = teacher.logits.double().softmax(1).amax(1).mean().item()
        on_train = teacher.record["train_confidence"]["mean_max_prob"]
        assert on_train < 0.75 and 0 < on_train - on_test < 0.05, seed


def test_chapter_05_the_born_again_student_loses_to_its_teacher_and_each_generation_loses_more(cifar100):
    errors = {row.name: row.mean for row in summarize(cifar100, "teacher")}
    for seed in cifar100.seeds:
        assert cifar100.models[seed]["ban-1"].error_pct > cifar100.models[seed]["teacher"].error_pct, seed
    assert errors["teacher"] < errors["ban-1"] < errors["ban-2"] < errors["ban-3"]
    against_teacher = _verdicts(cifar100, "teacher")
    assert against_teacher["ban-1"] == against_teacher["ban-2"] == against_teacher["ban-3"] == "worse"


def test_chapter_05_more_training_from_labels_beats_every_student(cifar100):
    assert _verdicts(cifar100, "teacher")["teacher-2x"] == "better"
    against_longer = _verdicts(cifar100, "teacher-2x")
    for student in ("ban-1", "ban-2", "ban-3", "ban+l", "ls", "cwtm", "dkpp"):
        assert against_longer[student] == "worse", student


def test_chapter_05_with_the_labels_beside_the_teachers_output_the_student_beats_its_teacher(cifar100):
    assert _verdicts(cifar100, "teacher")["ban+l"] == "better"
    assert _verdicts(cifar100, "ban-1")["ban+l"] == "better"


def test_chapter_05_where_the_teacher_puts_its_wrong_class_mass_matters(cifar100):
    against_ban = _verdicts(cifar100, "ban-1")
    assert against_ban["ls"] == against_ban["dkpp"] == "worse"
    assert against_ban["cwtm"] == "no difference"


def test_chapter_05_born_again_ensembles_lose_to_independent_ones(cifar100):
    against_teacher = _verdicts(cifar100, "teacher")
    for k in (2, 3):
        assert against_teacher[f"ens-{k}"] == "better" and against_teacher[f"bane-{k}"] == "worse"
        assert _verdicts(cifar100, f"ens-{k}")[f"bane-{k}"] == "worse"


@pytest.fixture(scope="module")
def cifar10():
    return load_study(RESULTS / "cifar10-wrn-28-1-11ep")


def test_chapter_04_the_born_again_student_loses_to_its_teacher_on_every_seed(cifar10):
    headline = [seed for seed in cifar10.seeds if "ban-1" in cifar10.models[seed]]
    assert len(headline) == 8
    for seed in headline:
        assert cifar10.models[seed]["ban-1"].error_pct > cifar10.models[seed]["teacher"].error_pct, seed
    errors = {row.name: row.mean for row in summarize(cifar10, "teacher")}
    assert errors["teacher"] < errors["ban-1"] < errors["ban-2"]
    against_teacher = _verdicts(cifar10, "teacher")
    assert against_teacher["ban-1"] == against_teacher["ban-2"] == "worse"


def test_chapter_04_a_short_teacher_has_not_fit_its_training_images(cifar10):
    for seed in cifar10.seeds:
        teacher = cifar10.models[seed]["teacher"]
        on_train = teacher.record["train_confidence"]["mean_max_prob"]
        assert 0.75 < on_train < 0.9 and 0 < on_train - mean_max_probability(teacher.logits) < 0.02, seed


def test_chapter_04_each_generation_is_less_sure_than_the_one_before(cifar10):
    for seed in cifar10.seeds:
        models = cifar10.models[seed]
        generations = [name for name in ("teacher", "ban-1", "ban-2") if name in models]
        sureness = [mean_max_probability(models[name].logits) for name in generations]
        assert len(sureness) >= 2 and all(a > b for a, b in zip(sureness, sureness[1:])), seed


def test_chapter_04_born_again_ensembles_lose_to_independent_ones(cifar10):
    against_teacher = _verdicts(cifar10, "teacher")
    assert against_teacher["ens-2"] == "better" and against_teacher["bane-2"] == "no difference"
    assert _verdicts(cifar10, "ens-2")["bane-2"] == "worse"


def test_chapter_04_more_training_from_labels_beats_every_other_row(cifar10):
    assert _verdicts(cifar10, "teacher")["teacher-2x"] == "better"
    against_longer = _verdicts(cifar10, "teacher-2x")
    for row in ("teacher", "ban-1", "ban-2", "bane-2", "ens-2"):
        assert against_longer[row] == "worse", row


@pytest.fixture(scope="module")
def imagewang():
    return load_study(RESULTS / "imagewang-densenet121-resnet18-64px-9ep")


def test_chapter_07_every_model_misnames_the_dogs_yet_tells_the_breeds_apart_better_than_chance(imagewang):
    for name, errors in seed_errors(imagewang).items():
        assert min(errors.values()) > 90, name
    for name, errors in seed_errors(imagewang, labelled_classes_only=True).items():
        assert max(errors.values()) < 90, name


def test_chapter_07_the_teacher_beats_the_label_trained_student_architecture_on_both_measures(imagewang):
    for among_breeds in (False, True):
        assert _verdicts(imagewang, "label", among_breeds)["teacher"] == "better"


def test_chapter_07_the_teacher_spreads_a_quarter_of_its_mass_and_is_unsure_of_the_dogs(imagewang):
    for seed in imagewang.seeds:
        teacher = imagewang.models[seed]["teacher"]
        assert teacher.record["train_confidence"]["mean_non_top_mass"] > 0.25, seed
        assert mean_max_probability(teacher.logits) < 0.5, seed


def test_chapter_07_the_born_again_student_lies_between_teacher_and_control_and_cannot_be_told_from_the_control(
        imagewang):
    assert all("ban-1" in imagewang.models[seed] for seed in imagewang.seeds) and len(imagewang.seeds) == 4
    for among_breeds in (False, True):
        means = {row.name: row.mean for row in summarize(imagewang, "label", labelled_classes_only=among_breeds)}
        assert means["teacher"] < means["ban-1"] < means["label"]
        assert _verdicts(imagewang, "label", among_breeds)["ban-1"] == "no difference"
        assert _verdicts(imagewang, "teacher", among_breeds)["ban-1"] == "worse"
    errors = seed_errors(imagewang)
    below = [seed for seed in imagewang.seeds if errors["ban-1"][seed] < errors["label"][seed]]
    assert len(below) == 3


def test_chapter_07_the_teachers_confidence_alone_or_its_shuffled_wrong_classes_lose_to_the_born_again_student(
        imagewang):
    for among_breeds in (False, True):
        against_ban = _verdicts(imagewang, "ban-1", among_breeds)
        assert against_ban["cwtm"] == against_ban["dkpp"] == "worse"
    against_label = _verdicts(imagewang, "label")
    assert against_label["cwtm"] == against_label["dkpp"] == "no difference"
    against_label_among_breeds = _verdicts(imagewang, "label", labelled_classes_only=True)
    assert against_label_among_breeds["cwtm"] == "no difference" and against_label_among_breeds["dkpp"] == "worse"
    assert set(seed_errors(imagewang)["cwtm"].values()) == {100.0}
    agreement = {row.name: row.agreement for row in fidelity(imagewang)}
    for seed in imagewang.seeds:
        assert max(agreement["cwtm"][seed], agreement["dkpp"][seed]) < agreement["ban-1"][seed], seed


def test_chapter_07_the_unlabelled_dogs_help_the_born_again_student_on_the_leaderboards_measure(imagewang):
    assert all("ban-unsup" in imagewang.models[seed] for seed in imagewang.seeds) and len(imagewang.seeds) == 4
    assert _verdicts(imagewang, "ban-1")["ban-unsup"] == "better"
    assert _verdicts(imagewang, "ban-1", labelled_classes_only=True)["ban-unsup"] == "no difference"
    for among_breeds in (False, True):
        against_label = _verdicts(imagewang, "label", among_breeds)
        assert [name for name in ("ban-1", "cwtm", "dkpp", "ban-unsup") if against_label[name] == "better"] == [
            "ban-unsup"]
    rows = {row.name: row for row in fidelity(imagewang)}
    mean = {name: (mean_ci(list(row.agreement.values()))[0], mean_ci(list(row.kl.values()))[0])
            for name, row in rows.items()}
    assert mean["ban-unsup"][0] > mean["ban-1"][0] and mean["ban-unsup"][1] < mean["ban-1"][1]


def test_chapter_07_holm_over_the_five_comparisons_with_the_control_keeps_none(imagewang):
    for among_breeds in (False, True):
        tests = holm_tests(summarize(imagewang, "label", labelled_classes_only=among_breeds), "label")
        assert [name for name, _, _ in tests] == ["teacher", "ban-1", "cwtm", "dkpp", "ban-unsup"]
        assert not any(significant for _, _, significant in tests)


def test_chapter_07_ensembles_of_four_are_single_pairs(imagewang):
    against_label = _verdicts(imagewang, "ens4-label")
    assert {name for name in against_label if name.startswith("ens4-")} == {
        "ens4-ban-1", "ens4-cwtm", "ens4-dkpp", "ens4-ban-unsup"}
    assert {against_label[name] for name in against_label if name.startswith("ens4-")} == {"one seed"}


def test_chapter_07_the_whole_design_fit_its_budget(imagewang):
    hours = sum(model.record["provenance"]["wall_time_s"] for seed in imagewang.models.values()
                for model in seed.values()) / 3600
    assert sum(len(seed) for seed in imagewang.models.values()) == 24
    assert hours <= recorded_setting(imagewang, "budget_hours")
