"""A chapter's claims and the tests behind them: its primary comparison, tested alone, and its Holm family, every
other paired comparison it tests; each comparative sentence of its answer is a registered claim that a test supports."""

import math
import re
from dataclasses import dataclass

from bannet.formatting import plus_minus, signed, table_rows
from bannet.results import StudyResults
from bannet.stats import NO_SPREAD, detectable_difference, holm_rejections, mean_ci, sample_sd, t_test_p_value

# The words that make a sentence of an answer a comparison a reader takes away.
COMPARATIVE = re.compile(r"\b(beat\w*|outperform\w*|improv\w*|helps?|helped|hurts?|worse|better|lower|higher|"
                         r"rules? out|ruled out|explain\w*)\b", re.IGNORECASE)
MEASURES = {"error": False, "error among the test set's classes": True}  # measure: labelled_classes_only


@dataclass(frozen=True)
class Comparison:
    """`row` minus `baseline`, paired by seed (or seed group), on one measure of one study."""

    study: str
    row: str
    baseline: str
    measure: str = "error"


NO_CONCLUSION = "no conclusion"  # a claim that the data cannot tell the row from the baseline
INTERIM = "interim"  # a claim that the comparison waits for the pairs its design plans


@dataclass(frozen=True)
class Claim:
    """A sentence of an answer, named by a phrase of it, and what it says: that the row's measure is lower or higher
    than the baseline's, (NO_CONCLUSION) that its test, run on at least two pairs, establishes neither, or (INTERIM)
    that it is not tested yet because fewer pairs are recorded than its design plans."""

    phrase: str
    comparison: Comparison
    direction: str


@dataclass(frozen=True)
class ChapterClaims:
    """What a chapter tests and claims: the primary comparison (tested alone at α), the Holm family (the chapter's
    other tested comparisons, corrected together) and the claims of its answer."""

    primary: Comparison
    family: tuple[Comparison, ...]
    claims: tuple[Claim, ...]
    alpha: float = 0.05


@dataclass(frozen=True)
class Tested:
    """One comparison's paired differences: mean ± 95% CI over seeds, two-sided t-test p, the pairs its design plans
    and significance as tested (never while interim)."""

    comparison: Comparison
    diffs: dict[int, float]
    mean: float
    ci: float
    p: float
    planned: int
    significant: bool

    @property
    def interim(self) -> bool:
        """Whether fewer pairs are recorded than the design plans (bannet.design): shown, not tested."""
        return len(self.diffs) < self.planned

    @property
    def direction(self) -> str | None:
        """'lower' or 'higher' when significant, else None."""
        return None if not self.significant else ("lower" if self.mean < 0 else "higher")


def _measured(studies: dict[str, StudyResults | None], c: Comparison) -> tuple[dict[int, float], int]:
    """A comparison's paired differences by seed ({} when the study or a row is missing: a smoke run trains a part
    of the design, a study in progress has not reached a row yet) and the pairs its study's design plans."""
    results = studies.get(c.study)
    if results is None:
        return {}, 0
    planned = results.planned_pairs(c.row, c.baseline)
    among = MEASURES[c.measure]
    if not {c.row, c.baseline} <= results.seed_errors(among).keys():
        return {}, planned
    row = results.row(c.row, c.baseline, among)
    return (row.diffs if row is not None else {}), planned


def _tested(comparison: Comparison, diffs: dict[int, float], planned: int, significant: bool) -> Tested:
    """A Tested from its differences."""
    mean, ci = mean_ci(list(diffs.values())) if diffs else (math.nan, math.nan)
    return Tested(comparison, diffs, mean, ci, t_test_p_value(list(diffs.values())), planned, significant)


def run_tests(chapter: ChapterClaims, studies: dict[str, StudyResults | None]) -> dict[Comparison, Tested]:
    """The primary comparison tested alone at α and the family under Holm's correction at α, by comparison; an
    interim comparison counts in the family's m and is never significant."""
    measured = {c: _measured(studies, c) for c in [chapter.primary, *chapter.family]}
    testable = {c: t_test_p_value(list(d.values())) if len(d) >= planned else math.nan
                for c, (d, planned) in measured.items()}
    results = {chapter.primary: _tested(chapter.primary, *measured[chapter.primary],
                                        testable[chapter.primary] <= chapter.alpha)}
    rejected = holm_rejections([testable[c] for c in chapter.family], chapter.alpha)
    for comparison, significant in zip(chapter.family, rejected):
        results[comparison] = _tested(comparison, *measured[comparison], significant)
    return results


def holds(claim: Claim, tested: Tested) -> bool:
    """Whether the test supports the claim: significant in the claimed direction; for NO_CONCLUSION, tested on at
    least two pairs and all its planned ones, and not significant; for INTERIM, still short of its planned pairs."""
    if claim.direction == INTERIM:
        return tested.interim
    if claim.direction == NO_CONCLUSION:
        return len(tested.diffs) >= 2 and not tested.interim and not tested.significant
    return tested.direction == claim.direction


def unsupported(chapter: ChapterClaims, results: dict[Comparison, Tested]) -> list[Claim]:
    """The claims whose comparison is not tested, or whose test does not support them."""
    return [claim for claim in chapter.claims
            if claim.comparison not in results or not holds(claim, results[claim.comparison])]


def pending(results: dict[Comparison, Tested]) -> list[Comparison]:
    """The comparisons still short of the pairs their design plans (counted in Holm's m all the same, never
    rejected)."""
    return [comparison for comparison, tested in results.items() if tested.interim]


def sentences(markdown: str) -> list[str]:
    """The sentences of a Markdown text, whitespace collapsed (a period ends one before a space and a capital, a
    bracket or a backtick)."""
    text = re.sub(r"\s+", " ", markdown).strip()
    return [s.strip() for s in re.split(r"(?<=[.!?])\*{0,2} (?=[A-Z`(*])", text) if s.strip()]


def unregistered(chapter: ChapterClaims, answer: str) -> list[str]:
    """The comparative sentences of an answer that no registered claim's phrase names."""
    return [s for s in sentences(answer)
            if COMPARATIVE.search(s) and not any(claim.phrase in s for claim in chapter.claims)]


def _p(tested: Tested) -> str:
    """A test's p-value as printed: '< 0.001', '0.034', or '' when untested or interim (an interim p is not read)."""
    p = tested.p
    return "" if math.isnan(p) or tested.interim else "< 0.001" if p < 0.001 else f"{p:.3f}"


def _outcome(chapter: ChapterClaims, tested: Tested) -> str:
    """How a comparison came out: the direction it establishes, or that it establishes none."""
    if tested.interim:
        return f"interim: {len(tested.diffs)} of {tested.planned} planned pairs, tested when all are recorded"
    if len(tested.diffs) < 2:
        return "untested (fewer than two pairs)"
    how = "alone" if tested.comparison == chapter.primary else f"after Holm over {len(chapter.family)}"
    return f"{tested.direction} error, {how}" if tested.significant else f"no conclusion {how}"


def tested_table(chapter: ChapterClaims, studies: dict[str, StudyResults | None],
                 only: tuple[Comparison, ...] | None = None) -> str:
    """Markdown: the chapter's tests (or `only` those), each with its paired difference (row − baseline, points,
    mean ± 95% CI), pairs, two-sided paired t-test p and outcome: the primary alone, the family under Holm."""
    results = run_tests(chapter, studies)
    header = ["study", "row − baseline", "measure", "pairs", "difference, points", "p", "outcome"]
    rows = []
    for comparison in only or tuple(results):
        tested = results[comparison]
        rows.append([comparison.study, f"{comparison.row} − {comparison.baseline}", comparison.measure,
                     str(len(tested.diffs)), plus_minus(tested.mean, tested.ci), _p(tested), _outcome(chapter, tested)])
    return table_rows(header, rows)


def claim_lines(chapter: ChapterClaims, studies: dict[str, StudyResults | None]) -> str:
    """Markdown, one line per claim of the answer: what it says and the test that supports it (or does not)."""
    results = run_tests(chapter, studies)
    lines = []
    for claim in chapter.claims:
        c, tested = claim.comparison, results[claim.comparison]
        held = "holds" if holds(claim, tested) else "**does not hold**"
        said = (f"`{c.row}` against `{c.baseline}`, {c.measure}" if claim.direction in (NO_CONCLUSION, INTERIM)
                else f"`{c.row}` has {claim.direction} {c.measure} than `{c.baseline}`")
        difference = f"{signed(tested.mean)} points" if tested.diffs else "no pair recorded yet"
        lines.append(f"- {said} ({c.study}): {difference}, p {_p(tested) or 'not tested'}, "
                     f"{_outcome(chapter, tested)}; {held}.")
    return "\n".join(lines)


def resolution_table(chapter: ChapterClaims, studies: dict[str, StudyResults | None],
                     power: float = 0.8) -> str:
    """Markdown: for each of the chapter's tests, its pairs, the standard deviation of its paired differences and the
    smallest true difference it detects with the given power, with the pairs recorded and with the pairs its study's
    design plans: the primary at α, a family member at α / m (Holm's first, strictest step over the m family tests)."""
    results = run_tests(chapter, studies)
    header = ["study", "row − baseline", "pairs", "sd of the differences, points",
              f"detectable at {power:.0%} power, points", "design's pairs", "detectable with them, points"]
    rows = []
    for comparison, tested in results.items():
        values = list(tested.diffs.values())
        if len(values) < 2:
            continue
        sd, planned = sample_sd(values), max(tested.planned, len(values))  # older records name fewer seeds than ran
        alpha = chapter.alpha if comparison == chapter.primary else chapter.alpha / len(chapter.family)
        now, then = ((f"{detectable_difference(sd, n, alpha, power):.2f}" for n in (len(values), planned))
                     if sd > NO_SPREAD else ("equal pairs: no spread to size a test by",) * 2)
        rows.append([comparison.study, f"{comparison.row} − {comparison.baseline}", str(len(values)), f"{sd:.2f}",
                     now, str(planned), then])
    return table_rows(header, rows)
