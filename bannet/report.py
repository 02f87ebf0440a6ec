"""Tables from stored logits: test error of every model, BANE-k and the seed ensembles, mean ± 95% CI."""

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import torch

from bannet import records
from bannet.errors import DamagedFile, InvalidInput, MissingFile
from bannet.ensembles import ensemble_probabilities, error_pct
from bannet.stats import mean_ci


@dataclass
class SeedModel:
    """One recorded model of one seed: its record and stored test outputs (logits, labels, fp32 predictions)."""

    record: dict
    outputs: records.StoredOutputs

    @property
    def logits(self) -> torch.Tensor:
        """Stored test logits (fp16, up to a per-row constant)."""
        return self.outputs.logits

    @property
    def labels(self) -> torch.Tensor:
        """Test labels."""
        return self.outputs.labels

    @property
    def error_pct(self) -> float:
        """Test error (%) from the fp32 predictions; for files that predate them, the record's fp32 figure."""
        return self.outputs.error_pct if self.outputs.exact else self.record["test_error_pct"]


@dataclass
class Study:
    """Every recorded model of a study folder, by seed and model name."""

    path: Path
    models: dict[int, dict[str, SeedModel]]
    skipped: list[str] = field(default_factory=list)

    @property
    def seeds(self) -> list[int]:
        """The seeds that have at least one recorded model."""
        return sorted(self.models)

    def model_names(self) -> list[str]:
        """Model names in training order (their position in the study plan)."""
        names: list[str] = []
        for seed in self.seeds:
            ordered = sorted(self.models[seed].values(), key=lambda m: m.record["position"])
            names += [m.record["model"]["name"] for m in ordered if m.record["model"]["name"] not in names]
        return names

    def first_record(self) -> dict:
        """The record of the first model (by plan position) of the first seed: what every model of the study shares."""
        return min(self.models[self.seeds[0]].values(), key=lambda m: m.record["position"]).record

    def record(self, seed: int, name: str) -> dict:
        """One model's JSON record."""
        return self.models[seed][name].record


def _load_model(files: records.ModelFiles) -> SeedModel:
    """One model's record and outputs, the outputs checked against the record's SHA-256."""
    record = records.load_record(files.record)
    records.verify(files, "logits", record)
    return SeedModel(record, records.load_outputs(files.logits))


def load_study(path: str | Path) -> Study:
    """Read every finished model under `path`; a damaged model is left out and named in Study.skipped.

    A folder must hold one study in one profile, evaluated on one test set; a clear error otherwise.
    """
    path = Path(path)
    if not path.is_dir():
        raise MissingFile(f"no study folder at {path}")
    models: dict[int, dict[str, SeedModel]] = {}
    skipped = []
    for record_path in sorted(path.glob("seed-*/*.json")):
        match = re.fullmatch(r"seed-(\d+)", record_path.parent.name)
        if match is None:
            continue
        seed = int(match.group(1))
        files = records.model_files(path, seed, record_path.stem)
        if not files.logits.is_file():
            continue
        try:
            models.setdefault(seed, {})[record_path.stem] = _load_model(files)
        except (DamagedFile, MissingFile) as error:
            skipped.append(str(error))
    if not models:
        raise MissingFile(f"{path} holds no readable recorded model (expected seed-<k>/<model>.json with "
                          ".logits.npz)" + "".join(f"; {s}" for s in skipped))
    studies = sorted({(m.record.get("study"), m.record.get("profile")) for seed in models.values()
                      for m in seed.values()}, key=str)
    if len(studies) > 1:
        raise InvalidInput(f"{path} mixes records of {len(studies)} studies ({', '.join(f'{s} [{p}]' for s, p in studies)}): "
                           "a report averages one study; move each into its own folder")
    labels = [m.labels for seed in models.values() for m in seed.values()]
    if any(not torch.equal(labels[0], other) for other in labels[1:]):
        raise InvalidInput(f"{path}: models were evaluated on different test sets; cannot compare them")
    return Study(path, models, skipped)


@dataclass
class Row:
    """One line of a results table: per-seed test errors (%), their mean ± CI, and the paired difference to a baseline."""

    name: str
    errors: dict[int, float]
    mean: float
    ci: float
    diff_mean: float = math.nan
    diff_ci: float = math.nan
    diff_n: int = 0

    @property
    def n(self) -> int:
        """Number of seeds."""
        return len(self.errors)


def control_model(study: Study) -> str:
    """The label-trained model of the students' architecture: 'label' in cross-architecture studies, else the teacher."""
    return "label" if "label" in study.model_names() else "teacher"


def _generations(study: Study) -> int:
    """K, the number of born-again generations recorded."""
    names = study.model_names()
    return max((int(n.split("-")[1]) for n in names if re.fullmatch(r"ban-\d+", n)), default=0)


def _preset_setting(study: Study, key: str) -> object:
    """A setting of the study's preset as its first record stored it (None when absent, e.g. an older record)."""
    return study.first_record().get("preset", {}).get(key)


def seed_ensemble_errors(study: Study, model: str, k: int) -> dict[int, float]:
    """Error (%) of the mean softmax of `model` over disjoint groups of k consecutive seeds, keyed by each group's first seed.

    Disjoint groups share no member, so their errors are independent samples and their interval is
    honest; overlapping (cyclic) windows would reuse each model k times and narrow it spuriously.
    Seeds left over after the last full group are not used.
    """
    having = [s for s in study.seeds if model in study.models[s]]
    groups = [having[i:i + k] for i in range(0, len(having) - k + 1, k)]
    return {group[0]: error_pct(ensemble_probabilities([study.models[s][model].logits for s in group]),
                                study.models[group[0]][model].labels)
            for group in groups}


def paired_ensemble_errors(study: Study, members: list[str]) -> dict[int, float]:
    """Error (%) per seed of the mean softmax of `members` of that seed (the control and its independent
    label-trained siblings), so that ens-k(seed) pairs with BANE-k(seed)."""
    return {s: error_pct(ensemble_probabilities([study.models[s][m].logits for m in members]),
                         study.models[s][members[0]].labels)
            for s in study.seeds if all(m in study.models[s] for m in members)}


def seed_errors(study: Study) -> dict[str, dict[int, float]]:
    """Test error (%) per row and seed: every model, BANE-k (BAN-1..k of the seed), Ens-k (the control with its
    independent siblings indep-2..k of the same seed where the preset trains them, else k control models of
    consecutive seeds), and where the preset sets ensemble_of = k, ens{k}-<model> for its students and the control."""
    table: dict[str, dict[int, float]] = {}
    for name in study.model_names():
        table[name] = {s: study.models[s][name].error_pct for s in study.seeds if name in study.models[s]}
    for k in range(2, _generations(study) + 1):
        members = [f"ban-{j}" for j in range(1, k + 1)]
        table[f"bane-{k}"] = {s: error_pct(ensemble_probabilities([study.models[s][m].logits for m in members]),
                                           study.models[s]["ban-1"].labels)
                              for s in study.seeds if all(m in study.models[s] for m in members)}
    control = control_model(study)
    independent = _preset_setting(study, "independent_models") or 0
    for k in range(2, max(_generations(study), 1) + 1):
        table[f"ens-{k}"] = (paired_ensemble_errors(study, [control] + [f"indep-{j}" for j in range(2, k + 1)])
                             if k <= independent + 1 else seed_ensemble_errors(study, control, k))
    k = _preset_setting(study, "ensemble_of")
    if k is not None:
        for model in [*(_preset_setting(study, "students") or ()), control]:
            table[f"ens{k}-{model}"] = seed_ensemble_errors(study, model, k)
    return {name: errors for name, errors in table.items() if errors}


def summarize(study: Study, baseline: str = "teacher", confidence: float = 0.95) -> list[Row]:
    """One Row per table line, with the paired difference (row − baseline of the same seed) where both exist."""
    table = seed_errors(study)
    if baseline not in table:
        raise InvalidInput(f"baseline {baseline!r} is not in the study; rows: {', '.join(table)}")
    rows = []
    for name, errors in table.items():
        mean, ci = mean_ci(list(errors.values()), confidence)
        paired = [errors[s] - table[baseline][s] for s in errors if s in table[baseline]]
        diff_mean, diff_ci = mean_ci(paired, confidence) if paired and name != baseline else (math.nan, math.nan)
        rows.append(Row(name, errors, mean, ci, diff_mean, diff_ci, len(paired) if name != baseline else 0))
    return rows


def _pm(mean: float, ci: float, digits: int = 2) -> str:
    if math.isnan(mean):
        return ""
    return f"{mean:.{digits}f}" if math.isnan(ci) else f"{mean:.{digits}f} ± {ci:.{digits}f}"


def format_table(rows: list[Row], paper: dict[str, float] | None = None, baseline: str = "teacher") -> str:
    """A Markdown table: row, seeds, test error % (mean ± 95% CI), difference to the baseline, and the paper's figure."""
    paper = paper or {}
    lines = [f"| model | seeds | test error % | Δ vs {baseline} (paired) | paper |", "|---|---|---|---|---|"]
    for row in rows:
        quoted = f"{paper[row.name]:.2f}" if row.name in paper else ""
        lines.append(f"| {row.name} | {row.n} | {_pm(row.mean, row.ci)} | {_pm(row.diff_mean, row.diff_ci)} | {quoted} |")
    return "\n".join(lines)


@dataclass
class Fidelity:
    """How closely a student matches the model that taught it, per seed: top-1 agreement (%) and KL(teacher ‖ student)."""

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
        lines.append(f"| {row.name} | {row.teacher} | {len(row.agreement)} | {_pm(*agreement)} | {_pm(*kl, digits=3)} |")
    return "\n".join(lines)
