"""Each experiment chapter's answer says only what its tests support: every comparative sentence is registered in
bannet.book_claims with its (row, baseline, direction, measure), and every registered claim holds after Holm's
correction over the chapter's tested comparisons (its primary comparison, tested alone, apart)."""

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from bannet import book_claims
from bannet.claims import Claim, resolution_table, run_tests, unregistered, unsupported
from bannet.records import load_study
from bannet.results import StudyResults
from bannet.stats import detectable_difference

ROOT = Path(__file__).resolve().parent.parent


def _answer(notebook: str) -> str:
    """The chapter's answer: its markdown from the heading '## The answer' to the next '## ' heading."""
    cells = json.loads((ROOT / "notebooks" / f"{notebook}.ipynb").read_text())["cells"]
    markdown = "\n\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    return markdown.split("## The answer", 1)[1].split("\n## ", 1)[0]


@pytest.fixture(scope="module")
def studies():
    names = {c.study for chapter in book_claims.CHAPTERS.values() for c in (chapter.primary, *chapter.family)}
    return {name: StudyResults(load_study(ROOT / "results" / name)) for name in names}


@pytest.mark.parametrize("notebook", list(book_claims.CHAPTERS))
def test_every_comparative_sentence_of_the_answer_is_registered(notebook):
    chapter, answer = book_claims.CHAPTERS[notebook], _answer(notebook)
    assert unregistered(chapter, answer) == []
    assert [claim.phrase for claim in chapter.claims if claim.phrase not in " ".join(answer.split())] == []


@pytest.mark.parametrize("notebook", list(book_claims.CHAPTERS))
def test_every_registered_claim_holds_after_holm(notebook, studies):
    chapter = book_claims.CHAPTERS[notebook]
    assert chapter.primary not in chapter.family  # tested alone, not one of the family
    results = run_tests(chapter, studies)
    assert all(len(results[c].diffs) >= 2 for c in (chapter.primary, *chapter.family)), "an untestable comparison"
    assert unsupported(chapter, results) == []


def test_the_claims_test_fails_when_words_and_numbers_part(studies):
    chapter = book_claims.CIFAR100_WRN
    answer = _answer("05_cifar100")
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
    study = studies[book_claims.CIFAR10].study
    lines = resolution_table(chapter, studies).splitlines()
    for row, alpha in (("ban-1", 0.05), ("ban-2", 0.05 / len(chapter.family))):  # alone; Holm's strictest step
        n, sd = _paired_sd(study, row, "teacher")
        assert f"| {book_claims.CIFAR10} | {row} − teacher | {n} | {sd:.2f} | " \
               f"{detectable_difference(sd, n, alpha):.2f} |" in lines
