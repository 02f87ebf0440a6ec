"""Each experiment chapter's answer says only what its tests support: every comparative sentence is registered in
bannet.book_claims with its (row, baseline, direction, measure), and every registered claim holds after Holm's
correction over the chapter's tested comparisons (its primary comparison, tested alone, apart)."""

import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from bannet import book_claims, row_names
from bannet.claims import (
    NO_CONCLUSION,
    Claim,
    design_pairs,
    resolution_table,
    run_tests,
    unregistered,
    unsupported,
    untestable,
)
from bannet.presets import get_preset, study_plan
from bannet.recorded import planned_models, recorded_models
from bannet.records import load_study
from bannet.results import StudyResults
from bannet.stats import detectable_difference
from helpers import chapter_answer

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def studies():
    names = {c.study for chapter in book_claims.CHAPTERS.values() for c in (chapter.primary, *chapter.family)}
    return {name: StudyResults(load_study(ROOT / "results" / name)) for name in names}


@pytest.mark.parametrize("notebook", list(book_claims.CHAPTERS))
def test_every_comparative_sentence_of_the_answer_is_registered(notebook):
    chapter, answer = book_claims.CHAPTERS[notebook], chapter_answer(notebook)
    assert unregistered(chapter, answer) == []
    assert [claim.phrase for claim in chapter.claims if claim.phrase not in " ".join(answer.split())] == []


@pytest.mark.parametrize("notebook", list(book_claims.CHAPTERS))
def test_every_registered_claim_holds_after_holm(notebook, studies):
    chapter = book_claims.CHAPTERS[notebook]
    assert chapter.primary not in chapter.family  # tested alone, not one of the family
    results = run_tests(chapter, studies)
    assert [c for c in untestable(chapter, results) if not _still_recording(c, studies)] == []
    assert unsupported(chapter, results) == []


def _plan_rows(study_name: str) -> set[str]:
    """The rows a preset's plan can show: its trained models, and the ensembles BANE-k and Ens-k they make."""
    preset = get_preset(study_name)
    trained = {spec.name for spec in study_plan(preset)}
    sizes = range(2, len(trained) + 1)
    return (trained | {row_names.born_again_ensemble(k) for k in sizes if row_names.generation(k) in trained}
            | {row_names.ensemble(k) for k in sizes if row_names.independent(k) in trained})


def _still_recording(comparison, studies) -> bool:
    """An untestable comparison is allowed only while its study is being recorded, and only between rows its plan
    makes: a misspelt row, or a row the preset dropped, stays an error."""
    study = studies[comparison.study].study
    return (bool(planned_models(comparison.study) - recorded_models(study))
            and {comparison.row, comparison.baseline} <= _plan_rows(comparison.study))


def test_an_untestable_comparison_is_allowed_only_while_its_study_is_recorded(studies, tmp_path):
    laptop = book_claims.CIFAR10
    comparison = book_claims.Comparison(laptop, "bane-2", "ens-2")
    assert not _still_recording(comparison, studies)  # the recorded study is complete
    for seed in (0, 1):  # the same study with two seeds not yet recorded
        shutil.copytree(ROOT / "results" / laptop / f"seed-{seed}", tmp_path / f"seed-{seed}")
    partial = {laptop: StudyResults(load_study(tmp_path))}
    assert _still_recording(comparison, partial)
    assert not _still_recording(book_claims.Comparison(laptop, "ban-3", "teacher"), partial)  # not in the plan


def test_a_claim_of_no_conclusion_fails_once_its_test_concludes(studies):
    laptop = book_claims.CIFAR10
    chapter = replace(book_claims.CIFAR10_WRN, claims=(
        Claim("x", book_claims.Comparison(laptop, "ban-1", "teacher"), NO_CONCLUSION),  # significant after Holm
        Claim("y", book_claims.Comparison(laptop, "indep-2", "teacher"), NO_CONCLUSION),  # p = 1
        Claim("z", book_claims.Comparison(book_claims.CIFAR10_CONVERGED, "dkpp", "teacher"), NO_CONCLUSION)))
    results = run_tests(chapter, studies)
    tested = len(results[chapter.claims[2].comparison].diffs) >= 2
    assert [c.phrase for c in unsupported(chapter, results)] == ["x"] + ([] if tested else ["z"])


def test_the_claims_test_fails_when_words_and_numbers_part(studies):
    chapter = book_claims.CIFAR100_WRN
    answer = chapter_answer("05_cifar100")
    assert unregistered(chapter, answer + "\n\nBAN+L beats the teacher.") == ["BAN+L beats the teacher."]
    flipped = replace(chapter, claims=tuple(replace(c, direction="lower") if c.direction == "higher" else c
                                            for c in chapter.claims))
    assert len(unsupported(flipped, run_tests(flipped, studies))) == sum(
        c.direction == "higher" for c in chapter.claims)
    # BAN+L's 95% interval against the teacher excludes zero, but Holm's correction over the family does not keep it
    holm = replace(chapter, claims=(Claim("x", book_claims.Comparison(book_claims.CIFAR100, "ban+l", "teacher"),
                                          "lower"),))
    assert unsupported(holm, run_tests(holm, studies)) == list(holm.claims)


def _paired_sd(study, row: str, baseline: str) -> tuple[int, float]:
    diffs = [study.models[s][row].error_pct - study.models[s][baseline].error_pct
             for s in study.seeds if {row, baseline} <= study.models[s].keys()]
    return len(diffs), float(np.std(diffs, ddof=1))


def test_the_resolution_table_gives_each_test_its_detectable_difference(studies):
    chapter = book_claims.CIFAR10_WRN
    lines = resolution_table(chapter, studies).splitlines()
    for name, alpha in ((book_claims.CIFAR10_CONVERGED, 0.05), (book_claims.CIFAR10, 0.05 / len(chapter.family))):
        n, sd = _paired_sd(studies[name].study, "ban-1", "teacher")  # the primary alone; Holm's strictest step
        planned = len(get_preset(name).design_seeds)  # every seed of both designs trains the teacher and BAN-1
        assert f"| {name} | ban-1 − teacher | {n} | {sd:.2f} | {detectable_difference(sd, n, alpha):.2f} | " \
               f"{planned} | {detectable_difference(sd, planned, alpha):.2f} |" in lines
    assert f"| {book_claims.CIFAR10} | bane-2 − ens-2 | 3 |" in resolution_table(chapter, studies)  # 3 seeds plan both


def test_an_ensemble_needs_its_members_planned_on_a_seed():
    converged, laptop = book_claims.CIFAR10_CONVERGED, book_claims.CIFAR10
    assert design_pairs(book_claims.Comparison(converged, "ban-1", "teacher"), "teacher") == 20
    assert design_pairs(book_claims.Comparison(converged, "bane-2", "ens-2"), "teacher") == 5
    assert design_pairs(book_claims.Comparison(laptop, "bane-2", "teacher"), "teacher") == 3
    assert row_names.members("ens-3", "label") == ["label", "indep-2", "indep-3"]
