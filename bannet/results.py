"""A study's numbers, computed once from its records and logits: per-seed errors of every row, each row's paired
difference to a baseline, the students' fidelity to their teachers and the regime beside the paper. Tables, figures
and verdicts read this object; none recomputes it."""

import math
from dataclasses import dataclass, field
from functools import cached_property

from bannet import design, ensembles, paper, row_names
from bannet.errors import InvalidInput
from bannet.presets import Preset
from bannet.records import Study
from bannet.stats import mean_ci


@dataclass
class Row:
    """One line of a results table: per-seed test errors (%), their mean ± CI, the paired differences to a baseline
    (per seed, and their mean ± CI) and the pairs the study's design plans for them (bannet.design)."""

    name: str
    errors: dict[int, float]
    mean: float
    ci: float
    diff_mean: float = math.nan
    diff_ci: float = math.nan
    diff_n: int = 0
    diffs: dict[int, float] = field(default_factory=dict)
    planned: int = 0

    @property
    def n(self) -> int:
        """Number of seeds."""
        return len(self.errors)

    @property
    def interim(self) -> bool:
        """Whether fewer pairs are recorded than the design plans: shown, not judged."""
        return self.diff_n < self.planned


def verdict(row: Row) -> str:
    """'better', 'worse' or 'no difference' from the 95% CI of the paired difference; 'one seed' without a CI;
    'interim' while the design's pairs are not all recorded."""
    if math.isnan(row.diff_mean):
        raise ValueError(f"row {row.name!r} has no paired difference to a baseline")
    if row.interim:
        return "interim"
    if math.isnan(row.diff_ci):
        return "one seed"
    if row.diff_mean + row.diff_ci < 0:
        return "better"
    if row.diff_mean - row.diff_ci > 0:
        return "worse"
    return "no difference"


@dataclass
class Fidelity:
    """How closely a student matches the model that taught it, per seed: top-1 agreement (%), KL(teacher ‖ student);
    for a reference row, how closely two models match that learnt nothing from each other."""

    name: str
    teacher: str
    agreement: dict[int, float]
    kl: dict[int, float]
    reference: bool = False


def _fidelity(study: Study, name: str, teacher: str, reference: bool = False) -> Fidelity | None:
    """Agreement of a student's fp32 predictions with its teacher's and the mean KL(p_teacher ‖ q_student) (nats,
    float64 softmax of the stored logits) on the test set, per seed that has both; None when no seed does."""
    agreement, kl = {}, {}
    for seed in [s for s in study.seeds if {name, teacher} <= study.models[s].keys()]:
        student, source = study.models[seed][name], study.models[seed][teacher]
        agreement[seed] = 100.0 * (student.outputs.predictions == source.outputs.predictions).double().mean().item()
        log_p, log_q = source.logits.double().log_softmax(1), student.logits.double().log_softmax(1)
        kl[seed] = (log_p.exp() * (log_p - log_q)).sum(1).mean().item()
    return Fidelity(name, teacher, agreement, kl, reference) if agreement else None


class StudyResults:
    """Everything a study's chapter shows as numbers, each computed the first time it is read and kept."""

    def __init__(self, study: Study, confidence: float = 0.95):
        self.study = study
        self.confidence = confidence
        self._rows: dict[tuple[str, bool], list[Row]] = {}

    def seed_errors(self, labelled_classes_only: bool = False) -> dict[str, dict[int, float]]:
        """Test error (%) per row and seed (ensembles.seed_errors), on either measure."""
        return self._errors_among if labelled_classes_only else self._errors

    @cached_property
    def _errors(self) -> dict[str, dict[int, float]]:
        return ensembles.seed_errors(self.study)

    @cached_property
    def _errors_among(self) -> dict[str, dict[int, float]]:
        return ensembles.seed_errors(self.study, labelled_classes_only=True)

    @cached_property
    def groups(self) -> dict[str, tuple[str, int]]:
        """The rows that average one model over disjoint groups of seeds (ensembles.seed_group_rows)."""
        return ensembles.seed_group_rows(self.study)

    def rows(self, baseline: str | None = None, labelled_classes_only: bool = False) -> list[Row]:
        """One Row per table line, with the paired difference to the baseline (by default the study's control model)
        of the same seed, or for an ensemble over seeds to the baseline's ensemble over the same seeds."""
        baseline = baseline or self.study.control_model
        if (baseline, labelled_classes_only) not in self._rows:
            self._rows[baseline, labelled_classes_only] = self._summarize(baseline, labelled_classes_only)
        return self._rows[baseline, labelled_classes_only]

    def row(self, name: str, baseline: str | None = None, labelled_classes_only: bool = False) -> Row | None:
        """The row `name` against `baseline`, or None when the study has no such row."""
        return next((row for row in self.rows(baseline, labelled_classes_only) if row.name == name), None)

    def _summarize(self, baseline: str, labelled_classes_only: bool) -> list[Row]:
        table = self.seed_errors(labelled_classes_only)
        if baseline not in table:
            raise InvalidInput(f"baseline {baseline!r} is not in the study; rows: {', '.join(table)}")
        rows = []
        for name, errors in table.items():
            mean, ci = mean_ci(list(errors.values()), self.confidence)
            partner_name = ensembles.paired_row(name, baseline, self.groups)
            partner = table.get(partner_name or "", {})
            paired = {s: errors[s] - partner[s] for s in errors if s in partner}
            diff_mean, diff_ci = mean_ci(list(paired.values()), self.confidence) if paired else (math.nan, math.nan)
            planned = self.planned_pairs(name, partner_name) if partner_name else 0
            rows.append(Row(name, errors, mean, ci, diff_mean, diff_ci, len(paired), paired, planned))
        return rows

    @cached_property
    def design(self) -> Preset | None:
        """The study's design as its records hold it (bannet.design); None when they hold no whole preset."""
        return design.recorded_design(self.study)

    def planned_pairs(self, row: str, baseline: str) -> int:
        """The pairs of `row` and `baseline` the study's design plans (design.planned_pairs; 0 without a design)."""
        return design.planned_pairs(self.design, row, baseline, self.study.control_model)

    @cached_property
    def fidelity(self) -> list[Fidelity]:
        """For every student, its agreement with and KL from its teacher per seed (Stanton et al. 2021); then, as the
        reference for how alike two independently trained models are, each independent sibling of the control against
        the control."""
        taught = ensembles.teachers(self.study)
        found = [_fidelity(self.study, name, teacher) for name, teacher in taught.items() if teacher]
        found += [_fidelity(self.study, name, self.study.control_model, reference=True)
                  for name in taught if row_names.is_independent(name)]
        return [f for f in found if f is not None]

    @cached_property
    def paper_figures(self) -> paper.PaperFigures | None:
        """The paper's figures as the study's records hold them (None for a smoke run or without any)."""
        return paper.paper_figures(self.study)

    @cached_property
    def regime(self) -> paper.Regime | None:
        """Our teacher's mean error and epochs beside the paper's teacher's; None without both."""
        teacher = self._errors.get("teacher")
        if teacher is None:
            return None
        return paper.regime(self.study, mean_ci(list(teacher.values()), self.confidence)[0])
