"""What a recorded study shows: test errors of every model, BANE-k and the ensembles (mean ± 95% CI, paired
differences to the control model), fidelity, verdicts in words, the study's heading, recipe and provenance."""

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from bannet import paper, records, row_names
from bannet.errors import InvalidInput
from bannet.presets import get_preset
from bannet.records import Record, Study
from bannet.stats import mean_ci

BASELINE_WORDS = {"teacher": "the teacher", "label": "the student architecture trained from labels"}


def ensemble_probabilities(logits: Sequence[torch.Tensor]) -> torch.Tensor:
    """(1/k) Σ_j softmax(z_j): the BANE / independent-ensemble prediction."""
    if not logits:
        raise ValueError("an ensemble needs at least one member")
    shapes = {tuple(z.shape) for z in logits}
    if len(shapes) != 1:
        raise ValueError(f"ensemble members disagree in shape: {sorted(shapes)}")
    return torch.stack([z.float().softmax(1) for z in logits]).mean(0)


def top1_error_pct(scores: torch.Tensor, labels: torch.Tensor) -> float:
    """Top-1 test error in percent of logits or probabilities against labels."""
    if scores.shape[0] != labels.shape[0]:
        raise ValueError(f"{scores.shape[0]} predictions for {labels.shape[0]} labels")
    return records.error_pct(scores.argmax(1), labels)


def study_labels(study: Study) -> torch.Tensor:
    """The test labels every model of the study was evaluated on."""
    return next(iter(study.models[study.seeds[0]].values())).labels


def among_labelled_classes(scores: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """The scores with every class that no test label names set to −∞: argmax then picks among the test set's
    classes (ImageWang's 10 dog breeds of its 20 outputs), whatever prior the model learnt for the others."""
    kept = torch.full_like(scores, -math.inf, dtype=torch.float32)
    present = labels.unique()
    kept[:, present] = scores[:, present].float()
    return kept


@dataclass
class Row:
    """One line of a results table: per-seed test errors (%), their mean ± CI, the paired differences to a baseline
    (per seed, and their mean ± CI)."""

    name: str
    errors: dict[int, float]
    mean: float
    ci: float
    diff_mean: float = math.nan
    diff_ci: float = math.nan
    diff_n: int = 0
    diffs: dict[int, float] = field(default_factory=dict)

    @property
    def n(self) -> int:
        """Number of seeds."""
        return len(self.errors)


def generations(study: Study) -> int:
    """K, the number of born-again generations recorded."""
    return max((k for name in study.model_names() if (k := row_names.generation_number(name))), default=0)


def _ensemble_error(members: list[records.SeedModel], labelled_classes_only: bool) -> float:
    """Error (%) of the members' mean softmax, optionally among the test set's classes only."""
    labels = members[0].labels
    probabilities = ensemble_probabilities([m.logits for m in members])
    if labelled_classes_only:
        probabilities = among_labelled_classes(probabilities, labels)
    return top1_error_pct(probabilities, labels)


def seed_ensemble_errors(study: Study, model: str, k: int, labelled_classes_only: bool = False) -> dict[int, float]:
    """Error (%) of the mean softmax of `model` over disjoint groups of k consecutive seeds, keyed by their first seed.

    Disjoint groups share no member, so their errors are independent samples and their interval is
    honest; overlapping (cyclic) windows would reuse each model k times and narrow it spuriously.
    Seeds left over after the last full group are not used.
    """
    having = [s for s in study.seeds if model in study.models[s]]
    groups = [having[i:i + k] for i in range(0, len(having) - k + 1, k)]
    return {group[0]: _ensemble_error([study.models[s][model] for s in group], labelled_classes_only)
            for group in groups}


def paired_ensemble_errors(study: Study, members: list[str], labelled_classes_only: bool = False) -> dict[int, float]:
    """Error (%) per seed of the mean softmax of `members` of that seed: BANE-k (BAN-1..k), or ens-k (the control and
    its independent label-trained siblings), so that ens-k(seed) pairs with BANE-k(seed)."""
    return {s: _ensemble_error([study.models[s][m] for m in members], labelled_classes_only)
            for s in study.seeds if all(m in study.models[s] for m in members)}


def _students(study: Study) -> list[str]:
    """The models that learn from a teacher's outputs (BAN generations, the other losses, ban-unsup), in plan order."""
    records_by_name = {name: m.record for models in study.models.values() for name, m in models.items()}
    return [name for name in study.model_names() if records_by_name[name]["model"]["teacher"] is not None]


def seed_errors(study: Study, labelled_classes_only: bool = False) -> dict[str, dict[int, float]]:
    """Test error (%) per row and seed: every model, BANE-k (BAN-1..k of the seed), Ens-k (the control with its
    independent siblings indep-2..k of the same seed where the preset trains them, else k control models of
    consecutive seeds), and where the preset sets ensemble_of = k, ens{k}-<model> for every student and the control.

    labelled_classes_only: each prediction is the top class among those the test labels name (see
    among_labelled_classes), computed from the stored fp16 logits; otherwise a model's error is its fp32 predictions'.
    """
    table: dict[str, dict[int, float]] = {}
    for name in study.model_names():
        table[name] = {s: (top1_error_pct(among_labelled_classes(m.logits, m.labels), m.labels) if labelled_classes_only
                           else m.error_pct)
                       for s in study.seeds if (m := study.models[s].get(name)) is not None}
    for k in range(2, generations(study) + 1):
        table[row_names.born_again_ensemble(k)] = paired_ensemble_errors(
            study, [row_names.generation(j) for j in range(1, k + 1)], labelled_classes_only)
    groups = seed_group_rows(study)
    for k in range(2, max(generations(study), 1) + 1):
        siblings = [study.control_model] + [row_names.independent(j) for j in range(2, k + 1)]
        if row_names.ensemble(k) not in groups:
            table[row_names.ensemble(k)] = paired_ensemble_errors(study, siblings, labelled_classes_only)
    for name, (model, k) in groups.items():
        table[name] = seed_ensemble_errors(study, model, k, labelled_classes_only)
    return {name: errors for name, errors in table.items() if errors}


def seed_group_rows(study: Study) -> dict[str, tuple[str, int]]:
    """The rows that average one model over disjoint groups of k seeds, each with that model and k: ens{k}-<model>,
    and ens-k where the control has fewer than k − 1 independent siblings of its own seed."""
    groups = {}
    independent = paper.recorded_setting(study, "independent_models") or 0
    for k in range(independent + 2, max(generations(study), 1) + 1):
        groups[row_names.ensemble(k)] = (study.control_model, k)
    k = paper.recorded_setting(study, "ensemble_of")
    if k is not None:
        groups |= {row_names.seed_ensemble(k, model): (model, k) for model in [*_students(study), study.control_model]}
    return groups


def paired_row(name: str, baseline: str, groups: dict[str, tuple[str, int]]) -> str | None:
    """The row that `name` is paired with against `baseline`: the baseline itself for a row of one model per seed, the
    baseline's ensemble over the same seed group for an ensemble over seeds (never one of its own members); None
    when there is none."""
    if name not in groups:
        return None if baseline in groups or name == baseline else baseline
    model, k = groups.get(baseline, (baseline, groups[name][1]))
    partner = next((row for row, group in groups.items() if group == (model, k)), None)
    return None if partner == name or k != groups[name][1] else partner


def summarize(study: Study, baseline: str | None = None, confidence: float = 0.95,
              labelled_classes_only: bool = False) -> list[Row]:
    """One Row per table line, with the paired difference to the baseline (by default the study's control model) of
    the same seed, or for an ensemble over seeds to the baseline's ensemble over the same seeds (paired_row);
    labelled_classes_only as in seed_errors."""
    baseline = baseline or study.control_model
    table = seed_errors(study, labelled_classes_only)
    if baseline not in table:
        raise InvalidInput(f"baseline {baseline!r} is not in the study; rows: {', '.join(table)}")
    groups = seed_group_rows(study)
    rows = []
    for name, errors in table.items():
        mean, ci = mean_ci(list(errors.values()), confidence)
        partner = table.get(paired_row(name, baseline, groups) or "", {})
        paired = {s: errors[s] - partner[s] for s in errors if s in partner}
        diff_mean, diff_ci = mean_ci(list(paired.values()), confidence) if paired else (math.nan, math.nan)
        rows.append(Row(name, errors, mean, ci, diff_mean, diff_ci, len(paired), paired))
    return rows


def plus_minus(mean: float, ci: float, digits: int = 2) -> str:
    """"mean ± ci" at `digits` decimals; the mean alone when there is no interval, "" when there is no mean."""
    if math.isnan(mean):
        return ""
    return f"{mean:.{digits}f}" if math.isnan(ci) else f"{mean:.{digits}f} ± {ci:.{digits}f}"


def format_table(rows: list[Row], baseline: str, paper: dict[str, float] | None = None,
                 error_title: str = "test error %") -> str:
    """A Markdown table: row, seeds, test error % (mean ± 95% CI), difference to the baseline, the paper's figure."""
    paper = paper or {}
    lines = [f"| model | seeds | {error_title} | Δ vs {baseline} (paired) | paper |", "|---|---|---|---|---|"]
    for row in rows:
        quoted = f"{paper[row.name]:.2f}" if row.name in paper else ""
        difference = plus_minus(row.diff_mean, row.diff_ci)
        lines.append(f"| {row.name} | {row.n} | {plus_minus(row.mean, row.ci)} | {difference} | {quoted} |")
    return "\n".join(lines)


def study_table(study: Study, baseline: str | None = None, labelled_classes_only: bool = False) -> str:
    """Markdown: the study's table against `baseline` (default: its control model), how its ensembles over seeds are
    paired, and beside a full-profile run the paper's column as the records quote it, with the two regimes; a smoke
    run never stands beside the paper. labelled_classes_only: errors among the test set's classes (see seed_errors),
    never beside the paper's."""
    baseline = baseline or study.control_model
    rows = summarize(study, baseline, labelled_classes_only=labelled_classes_only)
    figures = None if labelled_classes_only else paper.paper_figures(study)
    title = "test error % among the test set's classes" if labelled_classes_only else "test error %"
    table = format_table(rows, baseline, figures.errors if figures else {}, title) + _group_caption(study, baseline)
    if labelled_classes_only:
        return (f"{table}\n\nEach prediction is the model's top class among the {len(study_labels(study).unique())} "
                "classes of the test labels; no paper figure is set beside this measure.")
    if figures is not None:
        setting = paper.regime(study, next(row.mean for row in rows if row.name == "teacher"))
        return f"{table}\n\nPaper column: {figures.source}. {setting.describe() if setting else ''}".rstrip()
    profile = study.first_record()["profile"]
    if profile != "full":
        return f"{table}\n\nA {profile} run: the paper's figures are not set beside it."
    return f"{table}\n\nNo paper figures are quoted for this preset."


def _group_caption(study: Study, baseline: str) -> str:
    """A caption for the rows that average a model over groups of seeds, saying what each is paired with; or ''."""
    groups, present = seed_group_rows(study), seed_errors(study).keys()
    shown = [name for name in groups if name in present]
    if not shown:
        return ""
    paired = [f"{name} with {partner}" for name in shown if (partner := paired_row(name, baseline, groups)) in present]
    unpaired = [name for name in shown if paired_row(name, baseline, groups) not in present]
    return (f"\n\n{', '.join(shown)}: one model averaged over disjoint groups of seeds, keyed by each group's first "
            "seed, and paired with the baseline's ensemble over the same seeds, never with one seed's model"
            + (f" ({'; '.join(paired)})" if paired else "")
            + (f"; {', '.join(unpaired)}: the baseline's own, with nothing to pair" if unpaired else "") + ".")


@dataclass
class Fidelity:
    """How closely a student matches the model that taught it, per seed: top-1 agreement (%), KL(teacher ‖ student)."""

    name: str
    teacher: str
    agreement: dict[int, float]
    kl: dict[int, float]


def fidelity(study: Study) -> list[Fidelity]:
    """For every student, agreement of its fp32 predictions with its teacher's and the mean KL(p_teacher ‖ q_student)
    (nats, float64 softmax of the stored logits) on the test set, per seed (Stanton et al. 2021)."""
    rows = []
    for name in study.model_names():
        teacher = next(m[name].record["model"].get("teacher") for m in study.models.values() if name in m)
        seeds = [s for s in study.seeds if teacher is not None and {name, teacher} <= study.models[s].keys()]
        if not seeds:
            continue
        agreement, kl = {}, {}
        for seed in seeds:
            student, source = study.models[seed][name], study.models[seed][teacher]
            agreement[seed] = 100.0 * (student.outputs.predictions == source.outputs.predictions).double().mean().item()
            log_p, log_q = source.logits.double().log_softmax(1), student.logits.double().log_softmax(1)
            kl[seed] = (log_p.exp() * (log_p - log_q)).sum(1).mean().item()
        rows.append(Fidelity(name, teacher, agreement, kl))
    return rows


def format_fidelity(rows: list[Fidelity], confidence: float = 0.95) -> str:
    """A Markdown table of fidelity: student, teacher, seeds, top-1 agreement % and KL, each mean ± CI."""
    lines = ["| student | teacher | seeds | top-1 agreement % | KL(teacher ‖ student), nats |", "|---|---|---|---|---|"]
    for row in rows:
        agreement, kl = mean_ci(list(row.agreement.values()), confidence), mean_ci(list(row.kl.values()), confidence)
        seeds = len(row.agreement)
        lines.append(f"| {row.name} | {row.teacher} | {seeds} | {plus_minus(*agreement)} | "
                     f"{plus_minus(*kl, digits=3)} |")
    return "\n".join(lines)


def heading(study: Study) -> str:
    """A Markdown line saying what the study is: a recorded result, or a smoke run that is not a result."""
    record = study.first_record()
    preset, n = record["preset"], len(study.seeds)
    seeds = f"{_count(n, 'seed')} ({', '.join(map(str, study.seeds))})"
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


def paper_table(preset_name: str) -> str:
    """Markdown: the paper's numbers for a preset, labelled as the paper's (no numbers of ours)."""
    preset = get_preset(preset_name)
    if not preset.paper:
        return f"No paper figures are quoted for `{preset_name}`."
    lines = ["| model | paper: test error % |", "|---|---|"]
    lines += [f"| {name} | {error:.2f} |" for name, error in preset.paper.items()]
    return "\n".join(lines) + f"\n\nSource: {preset.paper_source}."


def _commit(record: Record) -> str:
    """A record's git commit, shortened, keeping its '-dirty' mark."""
    commit = record["provenance"]["git_commit"]
    return commit[:10] + ("-dirty" if commit.endswith("-dirty") else "")


def _joined(values: list[str]) -> str:
    """The distinct values in first-seen order, comma-separated."""
    return ", ".join(dict.fromkeys(values))


def _provenance(recs: list[Record], key: str) -> str:
    """The distinct values of one provenance field over the records."""
    return _joined([str(r["provenance"][key]) for r in recs])


def _dates(recs: list[Record]) -> str:
    """The UTC day the records were made, or the first and last day."""
    days = sorted(r["provenance"]["date"][:10] for r in recs)
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


def _count(n: int, noun: str) -> str:
    """'1 paired test', '3 paired tests'."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


def signed(value: float) -> str:
    """A signed two-decimal number in which a value that rounds to zero reads +0.00, never -0.00."""
    return f"{0.0 if round(value, 2) == 0 else value:+.2f}"


def plain_statement(rows: list[Row], baseline: str) -> str:
    """One Markdown bullet per row with a paired difference: beats / worse than / no significant difference at 95%."""
    other = BASELINE_WORDS.get(baseline, f"`{baseline}`")
    lines = []
    for row in rows:
        if row.name == baseline or math.isnan(row.diff_mean):
            continue
        outcome = verdict(row)
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


def paired_statement(study: Study, row: str, baseline: str, labelled_classes_only: bool = False) -> str:
    """One bullet: `row` against `baseline` of the same seed (e.g. bane-3 against ens-3, ban-1 against teacher-2x)."""
    rows = ([r for r in summarize(study, baseline, labelled_classes_only=labelled_classes_only) if r.name == row]
            if baseline in seed_errors(study) else [])
    if not rows or rows[0].diff_n == 0:
        return f"- **{row}** against `{baseline}`: no seed has both yet."
    return plain_statement(rows, baseline)


def against_paper(study: Study, rows: list[Row], baseline: str = "teacher") -> str:
    """One bullet per row the paper also reports: the paper's single-run difference to its teacher beside our paired
    interval. Only in the paper's regime is ours said to agree with it, contradict it or be unable to tell; in a
    different regime the line says so and names both teachers' errors and epochs."""
    figures = paper.paper_figures(study)
    ours = {row.name: row for row in rows}
    setting = paper.regime(study, ours[baseline].mean) if figures is not None and baseline in ours else None
    if setting is None:
        return "No row of ours has a figure of the paper beside it."
    lines = [setting.describe() + ("" if setting.same else " Ours is set beside the paper's, not tested against it.")]
    for row in rows:
        if row.name not in figures.errors or row.name == baseline or math.isnan(row.diff_mean):
            continue
        theirs = figures.errors[row.name] - figures.errors[baseline]
        interval = "" if math.isnan(row.diff_ci) else f" ± {row.diff_ci:.2f}"
        line = (f"- **{row.name}**: the paper {signed(theirs)} points against its {baseline} (one run); "
                f"ours {signed(row.diff_mean)}{interval} ({_count(row.diff_n, 'paired seed')})")
        lines.append(line + (f": {_paper_outcome(verdict(row), theirs)}." if setting.same else "."))
    return "\n".join(lines)


def _paper_outcome(ours: str, theirs: float) -> str:
    """In the paper's regime: whether our verdict agrees in direction with the paper's difference."""
    if ours in ("one seed", "no difference"):
        return "our data cannot tell" if ours == "no difference" else "one seed of ours, no interval"
    return "ours agrees in direction" if (ours == "better") == (theirs < 0) else "**ours contradicts it**"


def mean_max_probability(logits: torch.Tensor) -> float:
    """Mean over images of max_i softmax(z)_i (float64): how sure a model is of what it predicts."""
    return logits.double().softmax(1).amax(1).mean().item()


def teacher_confidence(study: Study, model: str = "teacher") -> str:
    """Markdown: the model's mean largest probability and mean non-top mass on its training images (from its record)
    and on the test images (from its stored logits), per seed: what its students learn from, and what it shows."""
    lines = ["| seed | train: mean max p | train: mean non-top mass | test: mean max p | test error % |",
             "|---|---|---|---|---|"]
    for seed in study.seeds:
        entry = study.models[seed].get(model)
        if entry is None:
            continue
        train = entry.record.get("train_confidence")
        top = mean_max_probability(entry.logits)
        shown = (f"{train['mean_max_prob']:.3f} | {train['mean_non_top_mass']:.3f}" if train else "not recorded | ")
        lines.append(f"| {seed} | {shown} | {top:.3f} | {entry.error_pct:.2f} |")
    return "\n".join(lines)


def confidence_on_test(study: Study, models: Sequence[str], confidence: float = 0.95) -> str:
    """Markdown: each model's mean largest probability on the test images, mean ± CI over its seeds (models without a
    record are left out)."""
    lines = ["| model | seeds | test: mean max p |", "|---|---|---|"]
    for name in models:
        values = [mean_max_probability(study.models[s][name].logits) for s in study.seeds if name in study.models[s]]
        if values:
            lines.append(f"| {name} | {len(values)} | {plus_minus(*mean_ci(values, confidence), digits=3)} |")
    return "\n".join(lines)
