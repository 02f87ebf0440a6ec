"""The studies recorded in the repository's results/: where each is, and how much of its plan is recorded."""

from pathlib import Path

from bannet.formatting import table_rows
from bannet.presets import PRESETS, get_preset, seed_plan
from bannet.records import Study, load_study

REPOSITORY = Path(__file__).resolve().parent.parent
RESULTS_DIR = REPOSITORY / "results"


def find_study(preset_name: str, results_dir: str | Path = RESULTS_DIR) -> Study | None:
    """The recorded study results_dir/<preset>, or None when nothing of it is recorded."""
    get_preset(preset_name)
    try:
        return load_study(Path(results_dir) / preset_name)
    except FileNotFoundError:
        return None



def status(results_dir: str | Path = RESULTS_DIR) -> str:
    """Markdown: for every preset, its scale and how much of its plan is recorded (complete, in progress, none)."""
    rows = []
    for name, preset in PRESETS.items():
        study = find_study(name, results_dir)
        recorded = set() if study is None else {(seed, m) for seed, models in study.models.items() for m in models}
        planned = {(seed, spec.name) for seed in preset.design_seeds for spec in seed_plan(preset, seed)}
        done, extra = len(planned & recorded), len(recorded - planned)
        state = "complete" if done == len(planned) else "in progress" if recorded else "not yet"
        more = f" (and {extra} on further seeds)" if extra else ""
        rows.append([f"`{name}`", f"{preset.teacher_arch} → {preset.student_arch}, {preset.epochs} epochs",
                     f"{state}: {done} of {len(planned)} planned models{more}"])
    return table_rows(["study", "scale", "recorded"], rows)


STATUS_BEGIN = "<!-- status: written by `python -m bannet status --write book/intro.md` -->"
STATUS_END = "<!-- end of status -->"


def with_status(page: str, results_dir: str | Path = RESULTS_DIR) -> str:
    """The page's text with the table between its status markers replaced by the current `status()`."""
    head, marker, rest = page.partition(STATUS_BEGIN)
    _, end, tail = rest.partition(STATUS_END)
    if not (marker and end):
        raise ValueError(f"the page has no status markers ({STATUS_BEGIN} ... {STATUS_END})")
    return f"{head}{STATUS_BEGIN}\n{status(results_dir)}\n{STATUS_END}{tail}"
