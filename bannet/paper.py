"""The paper beside a recorded study: its figures as the study's records hold them, whether the study trains in the
paper's regime, and our rows set against the paper's only when it does."""

import math
from dataclasses import dataclass

from bannet.presets import PRESETS
from bannet.records import Study

# A teacher within this many points of the paper's teacher trains in the paper's regime: outside it a difference of
# ours and one of the paper's describe different models, and neither can confirm or contradict the other.
REGIME_POINTS = 1.0
REGIME_RULE = (f"a study is in the paper's regime when its teacher's mean test error is within {REGIME_POINTS:g} "
               "point of the paper's teacher")


@dataclass(frozen=True)
class PaperFigures:
    """The paper's single-run test errors (%) as a full study's records hold them, their source and epochs."""

    errors: dict[str, float]
    source: str
    epochs: int | None


def recorded_setting(study: Study, key: str) -> object:
    """A preset setting as the study's records hold it, from the first record that holds it (None when none does;
    older records lack later fields): an old study's report does not change when its preset is edited."""
    held = (m.record.get("preset", {}).get(key) for seed in study.models.values() for m in seed.values())
    return next((value for value in held if value is not None), None)


def paper_figures(study: Study) -> PaperFigures | None:
    """The paper's figures of a full-profile study, from its records; None for a smoke run or a study without any.
    The paper's epochs come from the preset for records made before the records held them."""
    if study.first_record()["profile"] != "full" or not recorded_setting(study, "paper"):
        return None
    epochs = recorded_setting(study, "paper_epochs")
    if epochs is None and study.name in PRESETS:
        epochs = PRESETS[study.name].paper_epochs
    return PaperFigures(dict(recorded_setting(study, "paper")), str(recorded_setting(study, "paper_source")), epochs)


@dataclass(frozen=True)
class Regime:
    """Our teacher's mean test error and epochs beside the paper's teacher's."""

    ours_error: float
    ours_epochs: int
    paper_error: float
    paper_epochs: int | None

    @property
    def same(self) -> bool:
        """Whether the study trains in the paper's regime (REGIME_RULE)."""
        return abs(self.ours_error - self.paper_error) <= REGIME_POINTS

    @property
    def facts(self) -> str:
        """Both teachers' errors and epochs, as a phrase."""
        paper_epochs = "epochs not quoted" if self.paper_epochs is None else f"{self.paper_epochs} epochs"
        return (f"our teacher {self.ours_error:.2f}% test error at {self.ours_epochs} epochs, the paper's "
                f"{self.paper_error:.2f}% at {paper_epochs}")

    def describe(self) -> str:
        """One sentence naming both teachers' errors and epochs and whether the regimes are the same."""
        return f"{'The paper' if self.same else 'Different'} regime: {self.facts}."


def regime(study: Study, teacher_error: float) -> Regime | None:
    """The study's regime given its teacher's mean test error; None without a paper teacher to compare with."""
    figures = paper_figures(study)
    if figures is None or "teacher" not in figures.errors or math.isnan(teacher_error):
        return None
    return Regime(teacher_error, int(recorded_setting(study, "epochs")), figures.errors["teacher"], figures.epochs)
