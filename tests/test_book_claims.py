"""What a chapter's prose says about a committed study beyond its tested comparisons (which test_chapter_claims
guards) still holds for the records: confidence, CPU kinds, the paper's regime, diversity, where predictions go.
Retraining that changed one would fail here and point at the paragraph to rewrite."""

from pathlib import Path

import pytest

from bannet import book_claims, measures, paper
from bannet.claims import pending, run_tests
from bannet.ensembles import seed_errors
from bannet.measures import mean_max_probability
from bannet.paper import recorded_setting
from bannet.records import load_study
from bannet.results import StudyResults, verdict
from helpers import chapter_answer

RESULTS = Path(__file__).resolve().parent.parent / "results"


@pytest.fixture(scope="module")
def mnist():
    return load_study(RESULTS / "mnist-mlp")


def test_chapter_03_the_teacher_shows_its_students_almost_the_labels(mnist):
    for seed in mnist.seeds:
        assert mnist.record(seed, "teacher")["train_confidence"]["mean_non_top_mass"] < 0.01


@pytest.fixture(scope="module")
def cifar100():
    return load_study(RESULTS / "cifar100-wrn-16-2-9ep")


def test_chapter_05_a_short_teacher_has_not_fit_its_training_images_and_is_barely_surer_of_them(cifar100):
    for seed in cifar100.seeds:
        teacher = cifar100.models[seed]["teacher"]
        on_test = teacher.logits.double().softmax(1).amax(1).mean().item()
        on_train = teacher.record["train_confidence"]["mean_max_prob"]
        assert on_train < 0.75 and 0 < on_train - on_test < 0.05, seed


@pytest.fixture(scope="module")
def cifar10():
    return load_study(RESULTS / "cifar10-wrn-28-1-11ep")


def test_chapter_04_each_generation_is_less_sure_than_the_one_before(cifar10):
    for seed in cifar10.seeds:
        models = cifar10.models[seed]
        generations = [name for name in ("teacher", "ban-1", "ban-2") if name in models]
        sureness = [mean_max_probability(models[name].logits) for name in generations]
        assert len(sureness) >= 2 and all(a > b for a, b in zip(sureness, sureness[1:])), seed


@pytest.fixture(scope="module")
def imagewang():
    return load_study(RESULTS / "imagewang-densenet121-resnet18-64px-9ep")


def test_chapter_07_every_model_errs_below_chance_among_the_breeds(imagewang):
    for name, errors in seed_errors(imagewang).items():
        assert min(errors.values()) > 90, name
    for name, errors in seed_errors(imagewang, labelled_classes_only=True).items():
        assert max(errors.values()) < 90, name


def test_chapter_07_the_whole_design_fit_its_budget(imagewang):
    hours = sum(model.record["provenance"]["wall_time_s"] for seed in imagewang.models.values()
                for model in seed.values()) / 3600
    assert sum(len(seed) for seed in imagewang.models.values()) == 24
    assert hours <= recorded_setting(imagewang, "budget_hours")


def test_chapter_03_temperature_and_learning_rate_change_together_and_neither_separates_from_ban_1(mnist):
    rows = {row.name: row for row in StudyResults(mnist).rows("ban-1")}
    assert verdict(rows["ban-1-t2"]) == verdict(rows["ban-1-t4"]) == "no difference"
    lr = {name: mnist.record(0, name)["model"]["lr_factor"] for name in ("ban-1", "ban-1-t2", "ban-1-t4")}
    assert lr == {"ban-1": 1.0, "ban-1-t2": 0.5, "ban-1-t4": 0.25}  # temperature and learning rate change together


def test_chapter_04_the_controls_ran_on_another_kind_of_cpu(cifar10):
    kinds = {}
    for models in cifar10.models.values():
        for name, model in models.items():
            kinds.setdefault(name, set()).add(model.record["provenance"]["cpu"]["model"])
    assert kinds["teacher-2x"] == kinds["indep-2"] == {"AMD EPYC"}
    assert kinds["teacher"] == kinds["ban-1"] == kinds["ban-2"] == {"Intel(R) Xeon(R) Processor"}
    assert all("AMX" not in model.record["provenance"]["cpu"]["torch_capability"]
               for models in cifar10.models.values() for model in models.values())


@pytest.mark.parametrize("name", ["cifar10-wrn-28-1-11ep", "cifar100-wrn-16-2-9ep"])
def test_chapters_04_and_05_are_not_in_the_papers_regime(name):
    study = load_study(RESULTS / name)
    teacher = next(row for row in StudyResults(study).rows() if row.name == "teacher")
    assert not paper.regime(study, teacher.mean).same


def test_chapter_04_the_converged_teacher_is_in_the_papers_regime():
    study = load_study(RESULTS / "cifar10-airbench")
    teacher = StudyResults(study).row("teacher")
    assert paper.regime(study, teacher.mean).same  # within a point of the paper's teacher


def test_chapter_05_born_again_members_disagree_less_though_they_err_more(cifar100):
    for k in (2, 3):
        table = measures.diversity_table(cifar100, {"bane": [f"ban-{j}" for j in range(1, k + 1)],
                                                    "ens": ["teacher"] + [f"indep-{j}" for j in range(2, k + 1)]})
        bane, ens = ([float(cell.split(" ± ")[0]) for cell in line.split(" | ")[3:5]]
                     for line in table.splitlines()[2:])
        assert bane[0] > ens[0] and bane[1] < ens[1]


def test_chapter_07_the_twenty_way_measure_is_at_chance(imagewang):
    shares, r = measures.prediction_shares(imagewang)
    assert all(share > 75 for by_seed in shares.values() for share in by_seed.values())
    assert r > 0.95


def test_chapter_04_says_the_design_is_still_being_recorded_only_while_it_is():
    chapter = book_claims.CIFAR10_WRN
    studies = {name: StudyResults(load_study(RESULTS / name)) for name in (book_claims.CIFAR10_CONVERGED,
                                                                          book_claims.CIFAR10)}
    waiting = [c for c in pending(run_tests(chapter, studies)) if c.study == book_claims.CIFAR10_CONVERGED]
    says = "The rest of the design is still being recorded" in chapter_answer("04_cifar10_wrn")
    assert says == any(c in chapter.family for c in waiting)
