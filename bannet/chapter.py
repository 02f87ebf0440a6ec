"""Notebook glue: a chapter sets itself up, finds (or trains) its study and shows it with the report's tables,
words and figures."""

import os
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path

import torch

from bannet import paper, plots, report, verdicts
from bannet.born_again import run_study
from bannet.compute_kind import UNKNOWN
from bannet.data import DATASETS, load_study_data
from bannet.errors import MissingFile
from bannet.formatting import table_rows
from bannet.models import build, count_parameters
from bannet.presets import PRESETS, get_preset, primary_plan, seed_plan, study_plan
from bannet.profiles import PROFILES
from bannet.recipes import recipe_for
from bannet.recorded import REPOSITORY, RESULTS_DIR, find_study
from bannet.records import Study, load_study
from bannet.results import StudyResults, verdict

RUNS_DIR = REPOSITORY / "runs"
PROFILE_ENV = "BANNET_PROFILE"


def current_profile() -> str:
    """The profile chapters run in: $BANNET_PROFILE (the tests set "smoke"), else "full"."""
    name = os.environ.get(PROFILE_ENV, "full")
    if name not in PROFILES:
        raise ValueError(f"unknown profile {name!r} in ${PROFILE_ENV}; choose one of: {', '.join(PROFILES)}")
    return name


def setup() -> torch.device:
    """Set a notebook up (inline PNG figures at twice their pixel density, plain-text progress bars) and return the
    device it trains on."""
    from IPython import get_ipython  # only notebooks call this; IPython is not a dependency

    shell = get_ipython()
    if shell is not None:
        shell.run_line_magic("matplotlib", "inline")
        shell.run_line_magic("config", 'InlineBackend.figure_format = "retina"')  # crisp at ~180 dpi
    warnings.filterwarnings("ignore", message="IProgress not found")
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def default_seeds(preset_name: str) -> tuple[int, ...]:
    """The seeds a full run of the preset records (Preset.design_seeds)."""
    return get_preset(preset_name).design_seeds


def run_command(preset_name: str, seeds: Sequence[int] | None = None) -> str:
    """The shell command, run from the repository root, that records the preset's study in results/<preset>."""
    seeds = default_seeds(preset_name) if seeds is None else seeds
    return f"python -m bannet run {preset_name} --seeds {' '.join(map(str, seeds))} --out results/{preset_name}"


def _models(preset_name: str) -> str:
    preset = get_preset(preset_name)
    classes = DATASETS[preset.dataset].num_classes
    lines = [preset.description]
    for spec in study_plan(preset):
        settings = (f" at T = {spec.temperature:g}" if spec.temperature != 1 else "") + (
            f", learning rate × {spec.lr_factor:g}" if spec.lr_factor != 1 else "")
        lines.append(f"  {spec.name:10s} {spec.arch:16s} {count_parameters(build(spec.arch, classes)):>11,} "
                     f"parameters, loss {spec.loss!r}{settings}, taught by {spec.teacher or 'the labels'}")
    return "\n".join(lines)


def models(*preset_names: str) -> str:
    """Each study's description and models: architecture, parameters at its data set's class count, loss, teacher."""
    return "\n".join(_models(name) for name in preset_names)


def cost(*preset_names: str) -> str:
    """Markdown: the recipe a full run of each study uses (once for studies that share it), a table of its trainings and
    epochs, and the commands that record them."""
    recipes = list(dict.fromkeys(recipe(name) for name in preset_names))
    table = table_rows(COST_COLUMNS, [scale(name) for name in preset_names])
    commands = "\n".join(run_command(name) for name in preset_names)
    return "\n\n".join([*recipes, table, f"```bash\n{commands}\n```"])


def paper_tables(*preset_names: str) -> str:
    """Markdown: each study's description in bold over the paper's figures for it (or a line saying there are none)."""
    return "\n\n".join(f"**{get_preset(name).description}**\n\n{report.paper_table(name)}" for name in preset_names)


def load_or_explain(preset_name: str, results_dir: str | Path = RESULTS_DIR) -> Study | None:
    """The recorded study, or None after saying plainly that there is none and how to make it."""
    study = find_study(preset_name, results_dir)
    if study is None:
        print(f"No recorded run of {preset_name} yet; from the repository root:\n    {run_command(preset_name)}")
    return study


def train_study(preset_name: str, seeds: Sequence[int], out: str | Path, profile: str = "full",
                device: torch.device | None = None, root: str | Path | None = None) -> Study:
    """Train (or resume) the preset in `profile` into `out` with progress bars, and load it."""
    device = device or torch.device("cuda" if torch.cuda.is_available() else "cpu")
    preset = get_preset(preset_name, profile)
    print(f"Training {preset_name} [{profile}] on {device} into {out}: {len(study_plan(preset))} models × "
          f"{len(seeds)} seeds, {preset.epochs} epochs each")
    run_study(preset, list(seeds), Path(out), device, root=root, progress=True)
    return load_study(out)


def smoke_study(preset_name: str, seeds: Sequence[int], root: str | Path | None = None) -> Study:
    """The preset's smoke profile trained on the CPU in a temporary folder (its data set must be at hand)."""
    preset = get_preset(preset_name, "smoke")
    try:
        data = load_study_data(preset, root, download=False)
    except FileNotFoundError as missing:
        raise MissingFile(f"no recorded run of {preset_name} and no data set for a smoke stand-in: {missing}") from None
    with tempfile.TemporaryDirectory(prefix=f"{preset_name}-smoke-") as folder:
        run_study(preset, list(seeds), Path(folder), torch.device("cpu"), data=data, progress=False,
                  log=lambda _: None)
        return load_study(folder)


def open_study(preset_name: str, train: bool = False, profile: str | None = None, device: torch.device | None = None,
               results_dir: str | Path = RESULTS_DIR, runs_dir: str | Path = RUNS_DIR,
               smoke_stand_in: bool = True) -> Study:
    """The study a chapter shows: trained if `train`, else recorded, else (smoke profile, when `smoke_stand_in`) a
    one-seed smoke run that shows the chapter's code runs; a chapter without its study stops with the command that
    records it. The profile defaults to the chapters' (see `current_profile()`)."""
    profile = profile or current_profile()
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; choose one of: {', '.join(PROFILES)}")
    if train:
        preset = get_preset(preset_name, profile)
        return train_study(preset_name, preset.design_seeds, Path(runs_dir) / preset.folder_name, profile, device)
    study = find_study(preset_name, results_dir)
    if study is not None:
        return study
    if profile == "smoke" and smoke_stand_in:
        return smoke_study(preset_name, default_seeds(preset_name)[:1])
    raise MissingFile(f"no recorded run of {preset_name} in {results_dir}; record one from the repository root with "
                      f"`{run_command(preset_name)}`")


def show(preset_names: Sequence[str], train: bool = False, results_dir: str | Path = RESULTS_DIR) -> None:
    """Render each of a chapter's studies, trained if `train`, else recorded; in the smoke profile only the first
    may be stood in by a smoke run (once per page is enough to show that its code runs)."""
    for position, name in enumerate(preset_names):
        study = open_study(name, True) if train else load_or_explain(name, results_dir)
        if study is None and position == 0 and current_profile() == "smoke":
            try:
                study = smoke_study(name, default_seeds(name)[:1])
            except MissingFile as missing:  # an optional study of the page: say so, show the rest
                print(f"Smoke run skipped: {missing}")
        if study is not None:
            render(study)


COST_COLUMNS = ("study", "models per seed", "epochs per model", "seeds", "trainings", "epochs over the training set")


def scale(preset_name: str, seeds: Sequence[int] | None = None) -> tuple[str, ...]:
    """What a full run of the preset costs in trained models and epochs: a row of the cost table (COST_COLUMNS)."""
    preset = get_preset(preset_name)
    seeds = default_seeds(preset_name) if seeds is None else seeds
    plan = study_plan(preset)
    longer = [f"{spec.name} {spec.epochs_factor * preset.epochs}" for spec in plan if spec.epochs_factor != 1]
    plans = [seed_plan(preset, seed) for seed in seeds]
    trainings, epochs = sum(map(len, plans)), sum(s.epochs_factor for p in plans for s in p) * preset.epochs
    primary = [seed for seed in seeds if seed in preset.primary_seeds]
    names = [spec.name for spec in primary_plan(preset)]
    only = f" ({len(primary)} train only {', '.join(names[:-1])} and {names[-1]})" if primary else ""
    return (preset_name, f"{len(plan)}: {', '.join(s.name for s in plan)}",
            f"{preset.epochs}" + (f" ({', '.join(longer)})" if longer else ""), f"{len(seeds)}{only}",
            str(trainings), f"{epochs:,}")


def recipe(preset_name: str) -> str:
    """The training recipe a full run of the preset uses, as the recipe words it, and, for wide ResNets, that they train
    without the dropout the paper's WRNs use."""
    preset = get_preset(preset_name)
    wide = any(arch.startswith("wrn-") for arch in (preset.teacher_arch, preset.student_arch))
    return recipe_for(preset).describe() + (" Wide ResNets without dropout (the paper's use dropout, its §4)."
                                            if wide else "")


def overview(preset_name: str, results_dir: str | Path = RESULTS_DIR) -> str:
    """Markdown for the results page: a recorded study's heading, provenance (with its seeds per compute kind where
    its records name kinds) and table, or one line saying none."""
    study = find_study(preset_name, results_dir)
    if study is None:
        return f"**{preset_name}**: no recorded study yet; `{run_command(preset_name)}` records one."
    kinds = report.seeds_per_kind(study)
    counted = "" if list(kinds) == [UNKNOWN] else f" {report.format_seeds_per_kind(study)}."
    return (f"{report.heading(study)}\n\nProvenance: {report.provenance_summary(study)}{counted}\n\n"
            + report.study_table(StudyResults(study)))


HEADLINE_WORDS = {"better": "the student is better", "worse": "the student is worse",
                  "no difference": "cannot tell (the interval covers 0)", "one seed": "one seed: no interval",
                  "interim": "interim: fewer pairs than the design plans"}


def headlines(results_dir: str | Path = RESULTS_DIR) -> str:
    """Markdown: for every recorded study, its first born-again student (`ban-1`) against the label-trained model of
    its architecture, paired by seed, beside the paper's single-run difference and the two teachers' regimes where
    the study's records quote the paper."""
    header = ["study", "paired seeds", "control", "`ban-1` − control, points", "verdict", "the paper (one run)",
              "regime"]
    rows = []
    for name in PRESETS:
        study = find_study(name, results_dir)
        results = StudyResults(study) if study is not None else None
        row = results.row("ban-1") if results is not None else None
        if row is None or row.diff_n == 0:
            continue
        figures, setting = results.paper_figures, results.regime
        quoted = (f"{figures.errors['ban-1'] - figures.errors['teacher']:+.2f}"
                  if figures and {"ban-1", "teacher"} <= figures.errors.keys() else "")
        interval = "" if row.diff_n < 2 else f" ± {row.diff_ci:.2f}"
        rows.append([f"`{name}`", str(row.diff_n), f"`{study.control_model}`", f"{row.diff_mean:+.2f}{interval}",
                     HEADLINE_WORDS[verdict(row)], quoted, setting.describe().removesuffix(".") if setting else ""])
    if not rows:
        return "No recorded study has a born-again student and its control on the same seed yet."
    return table_rows(header, rows) + (f"\n\nRegime: {paper.REGIME_RULE}; in a different regime the two differences "
                                       "are set side by side, not compared.")


def render(study: Study, baseline: str | None = None) -> None:
    """Show a study in a notebook: what it is, the table beside the paper, plain statements, provenance, figures;
    paired differences against `baseline` (default: the study's control model)."""
    from IPython.display import Markdown, display  # only notebooks call this; IPython is not a dependency

    baseline = baseline or study.control_model
    results = StudyResults(study)
    rows = results.rows(baseline)
    display(Markdown(report.heading(study) + "\n\n" + report.schedule(study)))
    display(Markdown(report.study_table(results, baseline)))
    display(Markdown(verdicts.plain_statement(rows, baseline)))
    display(Markdown(report.provenance_table(study)))
    figures = [(plots.learning_curves(study), "test error by epoch, the mean over seeds with its 95% band")]
    if len(rows) > 1:
        figures.append((plots.paired_differences(rows, baseline),
                        f"each row's test error minus `{baseline}`'s of the same seed, the mean with its 95% interval"))
    figures.append((plots.teacher_confidence(study),
                    "the teacher's largest softmax probability on the test images, correct and wrong predictions"))
    # A figure shown from a loop cannot carry a numbered notebook caption, so its caption follows it as text.
    for figure, caption in figures:
        display(figure, Markdown(f"*Figure ({study.name}): {caption}.*"))


def show_source(*objects: object) -> None:
    """Display the source code of bannet functions or classes as highlighted Python (the code a chapter runs)."""
    import inspect

    from IPython.display import Markdown, display

    display(Markdown("\n".join(f"```python\n{inspect.getsource(obj)}```" for obj in objects)))
