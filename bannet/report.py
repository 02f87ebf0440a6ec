"""A recorded study as Markdown: what it is (heading, recipe, provenance, seeds per compute kind) and its tables of
numbers (errors beside the paper's, fidelity, differences per compute kind), each a thin reader of the study's records
or its StudyResults."""

from bannet import ensembles
from bannet.compute_kind import kind_label, record_kind
from bannet.formatting import count, plus_minus, table_rows
from bannet.presets import get_preset
from bannet.records import Record, Study
from bannet.results import Fidelity, Row, StudyResults
from bannet.stats import mean_ci


def format_table(rows: list[Row], baseline: str, paper: dict[str, float] | None = None,
                 error_title: str = "test error %") -> str:
    """A Markdown table: row, seeds, test error % (mean ± 95% CI), difference to the baseline, the paper's figure."""
    paper = paper or {}
    header = ["model", "seeds", error_title, f"Δ vs {baseline} (paired)", "paper"]
    cells = [[row.name, str(row.n), plus_minus(row.mean, row.ci), plus_minus(row.diff_mean, row.diff_ci),
              f"{paper[row.name]:.2f}" if row.name in paper else ""] for row in rows]
    return table_rows(header, cells)


def study_table(results: StudyResults, baseline: str | None = None, labelled_classes_only: bool = False) -> str:
    """Markdown: the study's table against `baseline` (default: its control model), how its ensembles over seeds are
    paired, and beside a full-profile run the paper's column as the records quote it, with the two regimes; a smoke
    run never stands beside the paper. labelled_classes_only: errors among the test set's classes (see
    ensembles.seed_errors), never beside the paper's."""
    study = results.study
    baseline = baseline or study.control_model
    rows = results.rows(baseline, labelled_classes_only)
    figures = None if labelled_classes_only else results.paper_figures
    title = "test error % among the test set's classes" if labelled_classes_only else "test error %"
    table = format_table(rows, baseline, figures.errors if figures else {}, title) + _group_caption(results, baseline)
    if labelled_classes_only:
        classes = len(ensembles.study_labels(study).unique())
        return (f"{table}\n\nEach prediction is the model's top class among the {classes} classes of the test labels; "
                "no paper figure is set beside this measure.")
    if figures is not None:
        setting = results.regime
        return f"{table}\n\nPaper column: {figures.source}. {setting.describe() if setting else ''}".rstrip()
    profile = study.first_record()["profile"]
    if profile != "full":
        return f"{table}\n\nA {profile} run: the paper's figures are not set beside it."
    return f"{table}\n\nNo paper figures are quoted for this preset."


def _group_caption(results: StudyResults, baseline: str) -> str:
    """A caption for the rows that average a model over groups of seeds, saying what each is paired with; or ''."""
    groups, present = results.groups, results.seed_errors().keys()
    shown = [name for name in groups if name in present]
    if not shown:
        return ""
    partners = {name: ensembles.paired_row(name, baseline, groups) for name in shown}
    paired = {name: partner for name, partner in partners.items() if partner in present}
    unpaired = [name for name in shown if name not in paired]
    named = (f" ({next(iter(paired.values()))})" if len(set(paired.values())) == 1
             else f" ({'; '.join(f'{name} with {partner}' for name, partner in paired.items())})" if paired else "")
    own = f"{', '.join(unpaired)}, the baseline's own"
    each = f"each but {own}, " if paired and unpaired else "each " if paired else ""
    pairing = f"{each}paired with the baseline's ensemble over the same seeds{named}" if paired else own
    return f"\n\n{', '.join(shown)}: one model averaged over disjoint groups of seeds; {pairing}."


def format_fidelity(rows: list[Fidelity], confidence: float = 0.95) -> str:
    """A Markdown table of fidelity: student, teacher, seeds, top-1 agreement % and KL, each mean ± CI; a reference row
    names its pair as two independent models."""
    if not rows:
        return "No student is recorded beside its teacher yet."
    header = ["student", "teacher", "seeds", "top-1 agreement %", "KL(teacher ‖ student), nats"]
    cells = []
    for row in rows:
        agreement, kl = mean_ci(list(row.agreement.values()), confidence), mean_ci(list(row.kl.values()), confidence)
        teacher = f"{row.teacher} (reference: independent, no distillation)" if row.reference else row.teacher
        cells.append([row.name, teacher, str(len(row.agreement)), plus_minus(*agreement), plus_minus(*kl, digits=3)])
    return table_rows(header, cells)


def heading(study: Study) -> str:
    """A Markdown line saying what the study is: a recorded result, or a smoke run that is not a result."""
    record = study.first_record()
    preset, n = record["preset"], len(study.seeds)
    seeds = f"{count(n, 'seed')} ({', '.join(map(str, study.seeds))})"
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
    rows = [[name, f"{error:.2f}"] for name, error in preset.paper.items()]
    return table_rows(["model", "paper: test error %"], rows) + f"\n\nSource: {preset.paper_source}."


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
    header = ["model", "seeds", "epochs", "wall time per seed", "device", "torch", "commit", "date (UTC)"]
    rows = []
    for name in study.model_names():
        recs = [study.record(s, name) for s in study.seeds if name in study.models[s]]
        wall = sum(r["provenance"]["wall_time_s"] for r in recs) / len(recs)
        rows.append([name, str(len(recs)), _joined([str(len(r["epochs"])) for r in recs]), f"{wall:.1f} s",
                     _provenance(recs, "device"), _provenance(recs, "torch"), _joined([_commit(r) for r in recs]),
                     _dates(recs)])
    return table_rows(header, rows)


def provenance_summary(study: Study) -> str:
    """One line: commits, torch, devices, dates and the total wall time of every trained model."""
    recs = [m.record for seed in study.models.values() for m in seed.values()]
    total = sum(r["provenance"]["wall_time_s"] for r in recs)
    return (f"{len(recs)} trained model{'s' if len(recs) != 1 else ''}; commit {_joined([_commit(r) for r in recs])}; "
            f"torch {_provenance(recs, 'torch')}; device {_provenance(recs, 'device')}; date {_dates(recs)}; "
            f"total wall time {total / 60:.1f} min.")


def seeds_per_kind(study: Study) -> dict[str, list[int]]:
    """The seeds of a study by the label of the kind their models were computed on, in order of first seed; a seed
    whose models name several kinds (an old or hand-edited folder) is listed under each."""
    seeds: dict[str, list[int]] = {}
    for seed in study.seeds:
        for model in sorted(study.models[seed].values(), key=lambda m: m.record["position"]):
            label = kind_label(record_kind(model.record))
            if seed not in seeds.setdefault(label, []):
                seeds[label].append(seed)
    return seeds


def format_seeds_per_kind(study: Study) -> str:
    """One line: "Seeds per kind: <label>: 0 1; kind unknown: 2 3"."""
    return "Seeds per kind: " + "; ".join(f"{label}: {' '.join(map(str, seeds))}"
                                          for label, seeds in seeds_per_kind(study).items())


def difference_by_kind(results: StudyResults, row: str, baseline: str) -> str:
    """Markdown: `row` − `baseline` (paired by seed) over the seeds of each compute kind apart, mean ± 95% CI: a check
    that no kind's arithmetic carries the difference."""
    found = results.row(row, baseline)
    rows = []
    for kind, seeds in seeds_per_kind(results.study).items():
        diffs = [found.diffs[s] for s in seeds if found is not None and s in found.diffs]
        if diffs:
            rows.append([kind, str(len(diffs)), plus_minus(*mean_ci(diffs))])
    if not rows:
        return f"No seed has both `{row}` and `{baseline}` yet."
    return table_rows(["compute kind", "seeds", f"{row} − {baseline}, points"], rows)
