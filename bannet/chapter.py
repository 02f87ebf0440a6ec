"""What every experiment chapter does: find (or train) a study, set it beside the paper, say plainly what it shows."""

import math
import tempfile
from collections.abc import Sequence
from pathlib import Path

import torch

from bannet import plots
from bannet.born_again import load_study_data, run_study, study_plan
from bannet.presets import PROFILES, Preset, get_preset
from bannet.report import Row, Study, format_table, load_study, summarize
from bannet.train import TrainConfig

RESULTS_DIR = Path("../results")
RUNS_DIR = Path("../runs")
DEFAULT_SEEDS = (0, 1, 2)
BASELINE_WORDS = {"teacher": "the teacher", "label": "the student architecture trained from labels"}


def default_seeds(preset_name: str) -> tuple[int, ...]:
    """Seeds 0, 1, 2, or 0..k-1 when the preset's seed ensembles need k > 3 seeds (Preset.ensemble_of)."""
    return tuple(range(max(len(DEFAULT_SEEDS), get_preset(preset_name).ensemble_of or 0)))


def run_command(preset_name: str, seeds: Sequence[int] | None = None) -> str:
    """The shell command, run from the repository root, that records the preset's study in results/<preset>."""
    seeds = default_seeds(preset_name) if seeds is None else seeds
    return f"python -m bannet run {preset_name} --seeds {' '.join(map(str, seeds))} --out results/{preset_name}"


def find_study(preset_name: str, results_dir: str | Path = RESULTS_DIR) -> Study | None:
    """The recorded study results_dir/<preset>, or None when nothing of it is recorded."""
    get_preset(preset_name)
    try:
        return load_study(Path(results_dir) / preset_name)
    except FileNotFoundError:
        return None


def load_or_explain(preset_name: str, results_dir: str | Path = RESULTS_DIR) -> Study | None:
    """The recorded study, or None after saying plainly that there is none and how to make it."""
    study = find_study(preset_name, results_dir)
    if study is None:
        print(f"No recorded run of {preset_name} yet. To record one, run from the repository root:\n"
              f"    {run_command(preset_name)}")
    return study


def train_study(preset_name: str, seeds: Sequence[int], out: str | Path, profile: str = "full",
                device: torch.device | None = None, root: str | Path | None = None) -> Study:
    """Train (or resume) the preset in `profile` into `out` with progress bars, and load it."""
    device = device or torch.device("cuda" if torch.cuda.is_available() else "cpu")
    preset = get_preset(preset_name, profile)
    print(f"Training {preset_name} [{profile}] on {device} into {out}: {len(study_plan(preset))} models × "
          f"{len(seeds)} seeds, {preset.epochs} epochs each")
    run_study(preset, list(seeds), Path(out), device, root=root, profile=profile, progress=True)
    return load_study(out)


def smoke_study(preset_name: str, seeds: Sequence[int], root: str | Path | None = None) -> Study | None:
    """The preset's smoke profile trained on the CPU in a temporary folder; None (said plainly) without its data."""
    preset = get_preset(preset_name, "smoke")
    try:
        data = load_study_data(preset, root, download=False)
    except FileNotFoundError as missing:
        print(f"Smoke run of {preset_name} skipped: its data set is not here ({missing})")
        return None
    with tempfile.TemporaryDirectory(prefix=f"{preset_name}-smoke-") as folder:
        run_study(preset, list(seeds), Path(folder), torch.device("cpu"), data=data, profile="smoke",
                  progress=False, log=lambda _: None)
        return load_study(folder)


def open_study(preset_name: str, train: bool, profile: str = "full", device: torch.device | None = None,
               seeds: Sequence[int] | None = None, smoke_seeds: Sequence[int] = (),
               results_dir: str | Path = RESULTS_DIR, runs_dir: str | Path = RUNS_DIR) -> Study | None:
    """The study a chapter shows: trained if `train`, else recorded, else (smoke profile) a smoke run, else None."""
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; choose one of: {', '.join(PROFILES)}")
    if train:
        folder = preset_name if profile == "full" else f"{preset_name}-{profile}"
        seeds = default_seeds(preset_name) if seeds is None else seeds
        return train_study(preset_name, seeds, Path(runs_dir) / folder, profile, device)
    study = load_or_explain(preset_name, results_dir)
    if study is None and profile == "smoke" and smoke_seeds:
        return smoke_study(preset_name, smoke_seeds)
    return study


def heading(study: Study) -> str:
    """A Markdown line saying what the study is: a recorded result, or a smoke run that is not a result."""
    record = study.first_record()
    preset, n = record["preset"], len(study.seeds)
    seeds = f"{n} seed{'' if n == 1 else 's'} ({', '.join(map(str, study.seeds))})"
    epochs = f"{preset['epochs']} epoch{'' if preset['epochs'] == 1 else 's'}"
    size = f"{record['data']['train_size']:,} training and {record['data']['test_size']:,} test images"
    if record["profile"] == "smoke":
        return (f"**Smoke run of `{preset['name']}`: not a result.** A tiny model ({preset['teacher_arch']} → "
                f"{preset['student_arch']}) trained for {epochs} on {size}, {seeds}, only to show that "
                f"this chapter's code runs; its error rates mean nothing.")
    return (f"**Study `{preset['name']}`** ({record['profile']} profile): {preset['teacher_arch']} → "
            f"{preset['student_arch']}; {seeds}; {epochs} per model; {size}.")


def schedule(study: Study) -> str:
    """The training recipe as recorded: epochs, batch, optimiser and the learning rate of every epoch."""
    record = study.first_record()
    train = record["train"]
    rates = ", ".join(f"{e['lr']:g}" for e in record["epochs"])
    n = len(record["epochs"])
    return (f"{n} epoch{'' if n == 1 else 's'} per model, batches of {train['batch_size']}, SGD with momentum "
            f"{train['momentum']:g}{' (Nesterov)' if train['nesterov'] else ''} and weight decay "
            f"{train['weight_decay']:g}; learning rate by epoch: {rates}.")


def paper_vs_ours(study: Study, preset: Preset | str | None = None, baseline: str = "teacher") -> str:
    """Markdown: our rows (test error %, mean ± 95% CI over seeds, paired difference) beside the paper's column."""
    preset = preset or study.first_record()["study"]
    preset = get_preset(preset) if isinstance(preset, str) else preset
    table = format_table(summarize(study, baseline=baseline), preset.paper, baseline)
    source = f"Paper column: {preset.paper_source}." if preset.paper else "No paper figures are quoted for this preset."
    return f"{table}\n\n{source}"


def paper_table(preset_name: str) -> str:
    """Markdown: the paper's numbers for a preset, labelled as the paper's (no numbers of ours)."""
    preset = get_preset(preset_name)
    if not preset.paper:
        return f"No paper figures are quoted for `{preset_name}`."
    lines = ["| model | paper: test error % |", "|---|---|"]
    lines += [f"| {name} | {error:.2f} |" for name, error in preset.paper.items()]
    return "\n".join(lines) + f"\n\nSource: {preset.paper_source}."


def scale(preset_name: str, seeds: Sequence[int] | None = None) -> str:
    """What a full run of the preset costs in trained models and epochs."""
    preset = get_preset(preset_name)
    seeds = default_seeds(preset_name) if seeds is None else seeds
    plan = study_plan(preset)
    return (f"{preset_name}: {len(plan)} models per seed ({', '.join(s.name for s in plan)}), "
            f"{preset.epochs} epochs each; {len(seeds)} seeds = {len(plan) * len(seeds)} trainings, "
            f"{len(plan) * len(seeds) * preset.epochs:,} epochs over the {preset.dataset} training set.")


def recipe(preset_name: str) -> str:
    """The training recipe a full run of the preset uses: optimiser, batch and the learning-rate steps."""
    preset = get_preset(preset_name)
    config = TrainConfig(epochs=preset.epochs, batch_size=preset.batch_size, lr=preset.lr)
    drops = sorted(set(config.drop_epochs))
    return (f"{config.epochs} epochs of SGD (momentum {config.momentum:g}{', Nesterov' if config.nesterov else ''}, "
            f"weight decay {config.weight_decay:g}, batches of {config.batch_size}); learning rate {config.lr:g}, "
            f"multiplied by {config.gamma:g} after epochs {', '.join(map(str, drops))}.")


def _commit(record: dict) -> str:
    """A record's git commit, shortened, keeping its '-dirty' mark."""
    commit = record["provenance"]["git_commit"]
    return commit[:10] + ("-dirty" if commit.endswith("-dirty") else "")


def _joined(values: list[str]) -> str:
    """The distinct values in first-seen order, comma-separated."""
    return ", ".join(dict.fromkeys(values))


def _provenance(records: list[dict], key: str) -> str:
    """The distinct values of one provenance field over the records."""
    return _joined([str(r["provenance"][key]) for r in records])


def _dates(records: list[dict]) -> str:
    """The UTC day the records were made, or the first and last day."""
    days = sorted(r["provenance"]["date"][:10] for r in records)
    return days[0] if days[0] == days[-1] else f"{days[0]} to {days[-1]}"


def provenance_table(study: Study) -> str:
    """Markdown, one line per model: seeds, epochs, mean wall time per seed, device, torch, commit and date."""
    lines = ["| model | seeds | epochs | wall time per seed | device | torch | commit | date (UTC) |",
             "|---|---|---|---|---|---|---|---|"]
    for name in study.model_names():
        recs = [study.record(s, name) for s in study.seeds if name in study.models[s]]
        wall = sum(r["provenance"]["wall_time_s"] for r in recs) / len(recs)
        lines.append(f"| {name} | {len(recs)} | {_joined([str(len(r['epochs'])) for r in recs])} | {wall:.1f} s | "
                     f"{_provenance(recs, 'device')} | {_provenance(recs, 'torch')} | "
                     f"{_joined([_commit(r) for r in recs])} | {_dates(recs)} |")
    return "\n".join(lines)


def provenance_summary(study: Study) -> str:
    """One line: commits, torch, devices, dates and the total wall time of every trained model."""
    recs = [m.record for seed in study.models.values() for m in seed.values()]
    total = sum(r["provenance"]["wall_time_s"] for r in recs)
    return (f"{len(recs)} trained model{'s' if len(recs) != 1 else ''}; commit {_joined([_commit(r) for r in recs])}; "
            f"torch {_provenance(recs, 'torch')}; device {_provenance(recs, 'device')}; date {_dates(recs)}; "
            f"total wall time {total / 60:.1f} min.")


def baseline_for(preset_name: str) -> str:
    """The row paired differences are taken against: 'label' in cross-architecture studies, else 'teacher'."""
    return get_preset(preset_name).control_model


def overview(preset_name: str, results_dir: str | Path = RESULTS_DIR) -> str:
    """Markdown for the results page: a recorded study's heading, provenance and table, or one line saying none."""
    study = find_study(preset_name, results_dir)
    if study is None:
        return f"**{preset_name}**: no recorded study yet; `{run_command(preset_name)}` records one."
    return (f"{heading(study)}\n\nProvenance: {provenance_summary(study)}\n\n"
            + paper_vs_ours(study, baseline=baseline_for(preset_name)))


def verdict(row: Row) -> str:
    """'better', 'worse' or 'no difference' from the 95% CI of the paired difference; 'one seed' without a CI."""
    if math.isnan(row.diff_mean):
        raise ValueError(f"row {row.name!r} has no paired difference to a baseline")
    if math.isnan(row.diff_ci):
        return "one seed"
    if row.diff_mean + row.diff_ci < 0:
        return "better"
    if row.diff_mean - row.diff_ci > 0:
        return "worse"
    return "no difference"


def _signed(value: float) -> str:
    """A signed two-decimal number in which a value that rounds to zero reads +0.00, never -0.00."""
    return f"{0.0 if round(value, 2) == 0 else value:+.2f}"


def plain_statement(rows: list[Row], baseline: str = "teacher") -> str:
    """One Markdown bullet per row with a paired difference: beats / worse than / no significant difference at 95%."""
    other = BASELINE_WORDS.get(baseline, f"`{baseline}`")
    lines = []
    for row in rows:
        if row.name == baseline or math.isnan(row.diff_mean):
            continue
        outcome = verdict(row)
        if outcome == "one seed":
            lines.append(f"- **{row.name}**: {row.diff_mean:+.2f} points against {other} from a single seed; "
                         f"no confidence interval, so no conclusion.")
            continue
        interval = (f"paired difference {_signed(row.diff_mean)} points, 95% CI {_signed(row.diff_mean - row.diff_ci)} "
                    f"to {_signed(row.diff_mean + row.diff_ci)}, {row.diff_n} paired seeds")
        words = {"better": f"beats {other}: lower error, and the 95% CI excludes 0",
                 "worse": f"is worse than {other}: higher error, and the 95% CI excludes 0",
                 "no difference": f"shows no significant difference at 95% from {other}: the CI includes 0"}
        lines.append(f"- **{row.name}** {words[outcome]} ({interval}).")
    return "\n".join(lines) if lines else f"No row has a paired difference to {other}."


def render(study: Study | None, baseline: str = "teacher") -> None:
    """Show a study in a notebook: what it is, the table beside the paper, plain statements, provenance, figures."""
    if study is None:
        return
    from IPython.display import Markdown, display  # only notebooks call this; IPython is not a dependency

    rows = summarize(study, baseline=baseline)
    display(Markdown(heading(study) + "\n\n" + schedule(study)))
    display(Markdown(paper_vs_ours(study, baseline=baseline)))
    display(Markdown(plain_statement(rows, baseline)))
    display(Markdown(provenance_table(study)))
    display(plots.learning_curves(study))
    if len(rows) > 1:
        display(plots.paired_differences(rows, baseline))
    display(plots.teacher_confidence(study))
