"""A study's rows in words: one line per paired difference saying what its interval shows, and our differences set
beside the paper's, compared only in the paper's regime."""

import math

from bannet.formatting import signed, table_rows
from bannet.results import Row, StudyResults, verdict
from bannet.stats import NO_SPREAD, sample_sd, seeds_needed

BASELINE_WORDS = {"teacher": "the teacher", "label": "the student architecture trained from labels"}


def plain_statement(rows: list[Row], baseline: str) -> str:
    """One Markdown bullet per row with a paired difference: beats / worse than / no significant difference at 95%."""
    other = BASELINE_WORDS.get(baseline, f"`{baseline}`")
    lines = []
    for row in rows:
        if row.name == baseline or math.isnan(row.diff_mean):
            continue
        outcome = verdict(row)
        if outcome == "interim":
            lines.append(f"- **{row.name}**: {row.diff_mean:+.2f} points against {other} on {row.diff_n} of the "
                         f"{row.planned} pairs the design plans; interim, judged when all are recorded.")
            continue
        if outcome == "one seed":
            lines.append(f"- **{row.name}**: {row.diff_mean:+.2f} points against {other} from a single pair (one seed, "
                         "or one group of seeds); no confidence interval, so no conclusion.")
            continue
        interval = (f"paired difference {signed(row.diff_mean)} points, 95% CI {signed(row.diff_mean - row.diff_ci)} "
                    f"to {signed(row.diff_mean + row.diff_ci)}, {row.diff_n} paired seeds")
        words = {"better": f"beats {other}: lower error, and the 95% CI excludes 0",
                 "worse": f"is worse than {other}: higher error, and the 95% CI excludes 0",
                 "no difference": f"shows no significant difference at 95% from {other}: the CI includes 0"}
        lines.append(f"- **{row.name}** {words[outcome]} ({interval}).")
    return "\n".join(lines) if lines else f"No row has a paired difference to {other}."


def paired_statement(results: StudyResults, row: str, baseline: str, labelled_classes_only: bool = False) -> str:
    """One bullet: `row` against `baseline` of the same seed (e.g. bane-3 against ens-3, ban-1 against teacher-2x)."""
    found = (results.row(row, baseline, labelled_classes_only)
             if baseline in results.seed_errors(labelled_classes_only) else None)
    if found is None or found.diff_n == 0:
        return f"- **{row}** against `{baseline}`: no seed has both yet."
    return plain_statement([found], baseline)


def against_paper(results: StudyResults, baseline: str = "teacher") -> str:
    """The regime in one sentence, then a table of the rows the paper also reports: the paper's single-run difference
    to its teacher beside our paired interval. Only in the paper's regime do two columns say whether ours agrees with
    it, contradicts it or cannot tell, and how many pairs with our spread a paired test needs to detect the paper's
    difference at 80% power; in a different regime the two are set side by side, not compared."""
    figures, setting = results.paper_figures, results.regime
    if figures is None or setting is None or baseline not in results.seed_errors():
        return "No row of ours has a figure of the paper beside it."
    header = ["row", f"the paper − its {baseline}, one run", f"ours − our {baseline}, paired seeds"]
    header += ["ours against the paper", "pairs to detect the paper's difference"] if setting.same else []
    regime = "The paper's regime." if setting.same else "Different regime: set side by side, not compared."
    rows = []
    for row in results.rows(baseline):
        if row.name not in figures.errors or row.name == baseline or math.isnan(row.diff_mean):
            continue
        theirs = figures.errors[row.name] - figures.errors[baseline]
        interval = "" if math.isnan(row.diff_ci) else f" ± {row.diff_ci:.2f}"
        compared = [_paper_outcome(verdict(row), theirs), _pairs_needed(row, theirs)] if setting.same else []
        rows.append([row.name, signed(theirs), f"{signed(row.diff_mean)}{interval} ({row.diff_n})", *compared])
    if not rows:
        return f"{regime} ({setting.facts})\n\nNo row the paper reports is paired with our {baseline} yet."
    return f"{regime} ({setting.facts})\n\n" + table_rows(header, rows)


def _pairs_needed(row: Row, theirs: float) -> str:
    """How many pairs with the row's spread of paired differences detect the paper's difference at 80% power."""
    sd = sample_sd(list(row.diffs.values())) if row.diff_n >= 2 else 0.0
    if sd <= NO_SPREAD or theirs == 0:  # equal pairs measure no spread, and a test sized by none would need 2
        return ""
    return f"{seeds_needed(sd, theirs):,}"


UNDECIDED = {"no difference": "our data cannot tell", "one seed": "one seed of ours, no interval",
             "interim": "interim: compared when the design's pairs are in"}  # verdicts without a direction


def _paper_outcome(ours: str, theirs: float) -> str:
    """In the paper's regime: whether our verdict agrees in direction with the paper's difference."""
    if ours in UNDECIDED:
        return UNDECIDED[ours]
    return "ours agrees in direction" if (ours == "better") == (theirs < 0) else "**ours contradicts it**"
