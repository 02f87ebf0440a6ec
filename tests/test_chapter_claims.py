"""Each experiment chapter's answer says only what its tests support: every comparative sentence is registered in
bannet.book_claims with its (row, baseline, direction, measure), and every registered claim holds after Holm's
correction over the chapter's tested comparisons (its primary comparison, tested alone, apart)."""

import json
import math
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from bannet import book_claims, claims, row_names, verdicts
from bannet.claims import (
    INTERIM,
    NO_CONCLUSION,
    Claim,
    pending,
    resolution_table,
    run_tests,
    unregistered,
    unsupported,
)
from bannet.design import planned_pairs
from bannet.presets import get_preset
from bannet.records import load_study
from bannet.results import StudyResults
from bannet.stats import detectable_difference
from helpers import CIFAR10_WITHOUT_LOOKAHEAD, chapter_answer

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
    # a comparison short of two pairs is allowed only while its design still waits for them: a misspelt row, or a
    # row its study's design does not plan, stays an error
    assert [c for c, tested in results.items() if len(tested.diffs) < 2 and not tested.interim] == []
    assert unsupported(chapter, results) == []


def _partial(tmp_path, name: str, seeds: tuple[int, ...], source: Path | None = None) -> dict[str, StudyResults]:
    """A recorded study (from results/<name>, or source) with only some of its seeds, as while it is being recorded."""
    for seed in seeds:
        shutil.copytree((source or ROOT / "results" / name) / f"seed-{seed}", tmp_path / f"seed-{seed}")
    return {name: StudyResults(load_study(tmp_path))}


def test_a_comparison_is_interim_until_its_design_pairs_are_recorded_and_then_tested(studies, tmp_path):
    laptop = book_claims.CIFAR10  # complete: 8 seeds of ban-1 - teacher, 3 of the rest
    chapter = replace(book_claims.CIFAR10_WRN, primary=book_claims.Comparison(laptop, "ban-1", "teacher"),
                      family=(book_claims.Comparison(laptop, "bane-2", "ens-2"),
                              book_claims.Comparison(laptop, "ban-3", "teacher")))  # ban-3: not in the design
    complete = run_tests(chapter, studies)
    assert pending(complete) == [] and complete[chapter.primary].significant  # p < 0.001 on 8 pairs
    partial = run_tests(chapter, _partial(tmp_path, laptop, (0, 1)))  # the records' design names seeds 0, 1, 2
    ban, ensembles, misspelt = (partial[c] for c in (chapter.primary, *chapter.family))
    assert (len(ban.diffs), ban.planned, ban.interim, ban.significant) == (2, 3, True, False)
    assert (len(ensembles.diffs), ensembles.planned, ensembles.interim) == (2, 3, True)
    assert (misspelt.diffs, misspelt.planned, misspelt.interim) == ({}, 0, False)
    assert pending(partial) == [chapter.primary, chapter.family[0]]


def test_an_interim_comparison_is_shown_but_never_significant(studies, tmp_path):
    converged = book_claims.CIFAR10_CONVERGED
    chapter = book_claims.CIFAR10_WRN
    two_seeds = {**studies, **_partial(tmp_path, converged, (5, 6), CIFAR10_WITHOUT_LOOKAHEAD)}  # 2 of 20 planned
    results = run_tests(chapter, two_seeds)
    primary = results[chapter.primary]
    assert (len(primary.diffs), primary.planned, primary.interim, primary.significant) == (2, 20, True, False)
    assert not math.isnan(primary.p)
    line = claims.tested_table(chapter, two_seeds).splitlines()[2]
    assert " |  | interim: 2 of 20 planned pairs, tested when all are recorded |" in line  # p computed, not printed
    assert unsupported(replace(chapter, claims=(Claim("x", chapter.primary, INTERIM),)), results) == []
    assert [c.study for c in pending(results)] == [converged] * 12  # the primary and the 11 family tests of its study
    first = tmp_path / "first-model" / "seed-5"  # the study when its first teacher alone is recorded
    first.mkdir(parents=True)
    for name in ("teacher.json", "teacher.logits.npz"):
        shutil.copy(CIFAR10_WITHOUT_LOOKAHEAD / "seed-5" / name, first / name)
    no_pair = {**studies, converged: StudyResults(load_study(first.parent))}
    line = claims.claim_lines(chapter, no_pair).splitlines()[0]
    assert "no pair recorded yet, p not tested, interim: 0 of 20 planned pairs" in line and "nan" not in line


def test_a_claim_of_no_conclusion_fails_once_its_test_concludes_and_while_it_is_interim(studies, tmp_path):
    laptop = book_claims.CIFAR10
    chapter = replace(book_claims.CIFAR10_WRN, claims=(
        Claim("x", book_claims.Comparison(laptop, "ban-1", "teacher"), NO_CONCLUSION),  # significant after Holm
        Claim("y", book_claims.Comparison(laptop, "indep-2", "teacher"), NO_CONCLUSION),  # p = 1
        Claim("z", book_claims.CIFAR10_WRN.primary, NO_CONCLUSION)))  # interim: not yet tested
    two_seeds = {**studies, **_partial(tmp_path, book_claims.CIFAR10_CONVERGED, (5, 6), CIFAR10_WITHOUT_LOOKAHEAD)}
    assert [c.phrase for c in unsupported(chapter, run_tests(chapter, two_seeds))] == ["x", "z"]


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


def test_the_resolution_table_gives_each_test_its_detectable_difference(studies, tmp_path):
    chapter = book_claims.CIFAR10_WRN
    studies = {**studies, book_claims.CIFAR10_CONVERGED: StudyResults(load_study(CIFAR10_WITHOUT_LOOKAHEAD))}
    lines = resolution_table(chapter, studies).splitlines()
    for name, alpha in ((book_claims.CIFAR10_CONVERGED, 0.05), (book_claims.CIFAR10, 0.05 / len(chapter.family))):
        n, sd = _paired_sd(studies[name].study, "ban-1", "teacher")  # the primary alone; Holm's strictest step
        planned = len(get_preset(name).design_seeds)  # the registry's: older records name only the first three
        assert f"| {name} | ban-1 − teacher | {n} | {sd:.2f} | {detectable_difference(sd, n, alpha):.2f} | " \
               f"{planned} | {detectable_difference(sd, planned, alpha):.2f} |" in lines
    assert f"| {book_claims.CIFAR10} | bane-2 − ens-2 | 3 |" in resolution_table(chapter, studies)  # 3 seeds plan both
    twins = tmp_path / "equal"  # seed 5 recorded twice: two equal paired differences, no spread
    _partial(twins, book_claims.CIFAR10_CONVERGED, (5,), CIFAR10_WITHOUT_LOOKAHEAD)
    shutil.copytree(twins / "seed-5", twins / "seed-6")
    for record in (twins / "seed-6").glob("*.json"):
        record.write_text(record.read_text().replace('"seed": 5', '"seed": 6'))
    equal = {**studies, book_claims.CIFAR10_CONVERGED: StudyResults(load_study(twins))}
    assert (f"| {book_claims.CIFAR10_CONVERGED} | ban-1 − teacher | 2 | 0.00 | equal pairs: no spread to size a test by"
            " | 20 | equal pairs: no spread to size a test by |") in resolution_table(chapter, equal).splitlines()
    paper_row = verdicts.against_paper(equal[book_claims.CIFAR10_CONVERGED]).splitlines()[-1]
    assert paper_row.startswith("| ban-1 |") and paper_row.endswith("|  |")  # no pairs needed sized by no spread


def test_an_ensemble_needs_its_members_planned_on_a_seed(studies):
    converged, laptop = studies[book_claims.CIFAR10_CONVERGED].design, studies[book_claims.CIFAR10].design
    assert planned_pairs(converged, "ban-1", "teacher", "teacher") == 20
    assert planned_pairs(converged, "bane-2", "ens-2", "teacher") == 5
    assert planned_pairs(laptop, "bane-2", "teacher", "teacher") == 3
    assert row_names.members("ens-3", "label") == ["label", "indep-2", "indep-3"]


def test_records_without_a_whole_preset_have_no_design_and_nothing_is_interim(tmp_path):
    laptop = book_claims.CIFAR10
    partial = _partial(tmp_path, laptop, (0, 1))
    assert partial[laptop].row("ban-1", "teacher").interim  # 2 of the 3 seeds its records' design names
    for record in tmp_path.glob("seed-*/*.json"):  # records written by hand: a preset without its name and data set
        held = json.loads(record.read_text())
        held["preset"] = {"teacher_arch": "wrn-28-1", "student_arch": "wrn-28-1"}
        record.write_text(json.dumps(held))
    by_hand = StudyResults(load_study(tmp_path))
    assert by_hand.design is None and not by_hand.row("ban-1", "teacher").interim
    assert planned_pairs(None, "ban-1", "teacher", "teacher") == 0
