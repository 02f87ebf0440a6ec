"""The committed studies under results/: records agree with their logits, and every table recomputes from them."""

from pathlib import Path

import numpy as np
import pytest

from bannet import chapter, recorded, records
from bannet.compute_kind import UNKNOWN
from bannet.ensembles import generations, top1_error_pct
from bannet.presets import PRESETS, study_plan
from bannet.records import load_study
from bannet.report import format_seeds_per_kind, seeds_per_kind
from bannet.results import StudyResults

ROOT = Path(__file__).resolve().parent.parent
STUDIES = sorted(p for p in (ROOT / "results").glob("*") if p.is_dir() and any(p.glob("seed-*/*.json")))


def test_the_mnist_study_is_recorded_in_full():
    study = load_study(ROOT / "results" / "mnist-mlp")
    preset = PRESETS["mnist-mlp"]
    assert set(study.seeds) >= set(preset.seeds)
    planned = {spec.name for spec in study_plan(preset)}
    assert all(planned <= set(study.models[seed]) for seed in preset.seeds)


@pytest.mark.parametrize("study_dir", STUDIES, ids=lambda p: p.name)
def test_records_match_their_logits_and_carry_provenance(study_dir):
    study = load_study(study_dir)
    assert study.path.name in PRESETS
    for seed, models in study.models.items():
        for name, model in models.items():
            record = model.record
            assert (record["seed"], record["model"]["name"], record["study"]) == (seed, name, study_dir.name)
            assert record["profile"] == "full"
            assert not record["provenance"]["git_commit"].endswith("-dirty")
            assert set(record["provenance"]) >= {"git_commit", "torch", "device", "wall_time_s", "date"}
            assert len(record["epochs"]) == record["train"]["epochs"]
            assert model.error_pct == record["test_error_pct"]  # the table's figure is the record's, exactly
            # the fp16 logits' argmax may differ on a near-tie: at most 2 test images
            assert top1_error_pct(model.logits, model.labels) == pytest.approx(
                record["test_error_pct"], abs=200 / len(model.labels))


def _ensemble_error(files: list[Path]) -> float:
    """Test error (%) of the mean softmax of stored logits, computed with numpy alone."""
    probs, labels = [], None
    for f in files:
        with np.load(f) as data:
            z = data["logits"].astype(np.float64)
            labels = data["labels"]
        e = np.exp(z - z.max(1, keepdims=True))
        probs.append(e / e.sum(1, keepdims=True))
    return 100.0 * float((np.mean(probs, 0).argmax(1) != labels).mean())


def _row_errors(rows: dict, name: str) -> dict[int, float]:
    """A row's errors by seed; {} for a row with no seed yet (a study in progress)."""
    return rows[name].errors if name in rows else {}


def _disjoint_groups(seeds: list[int], k: int) -> list[list[int]]:
    """Consecutive groups of k seeds that share none, so that no model counts twice."""
    return [seeds[i:i + k] for i in range(0, len(seeds) - k + 1, k)]


@pytest.mark.parametrize("study_dir", STUDIES, ids=lambda p: p.name)
def test_ensembles_recompute_from_stored_logits(study_dir):
    study = load_study(study_dir)
    rows = {row.name: row for row in StudyResults(study).rows()}
    seeds = study.seeds
    for k in range(2, generations(study) + 1):
        complete = [s for s in seeds
                    if all((study_dir / f"seed-{s}" / f"ban-{j}.json").exists() for j in range(1, k + 1))]
        assert set(_row_errors(rows, f"bane-{k}")) == set(complete)
        for seed in complete:
            bane = [study_dir / f"seed-{seed}" / f"ban-{j}.logits.npz" for j in range(1, k + 1)]
            assert rows[f"bane-{k}"].errors[seed] == pytest.approx(_ensemble_error(bane), abs=1e-4)
        independent = study.first_record()["preset"].get("independent_models", 0)
        if k <= independent + 1:  # the teacher and its siblings indep-2..k of the same seed
            members = ["teacher", *(f"indep-{j}" for j in range(2, k + 1))]
            paired = [s for s in seeds if all((study_dir / f"seed-{s}" / f"{m}.json").exists() for m in members)]
            assert set(_row_errors(rows, f"ens-{k}")) == set(paired)
            for seed in paired:
                files = [study_dir / f"seed-{seed}" / f"{m}.logits.npz" for m in members]
                assert rows[f"ens-{k}"].errors[seed] == pytest.approx(_ensemble_error(files), abs=1e-4)
            continue
        groups = _disjoint_groups(seeds, k)  # k teachers of different seeds
        assert set(rows[f"ens-{k}"].errors) == {group[0] for group in groups}
        assert rows[f"ens-{k}"].diffs == {}  # the teacher's own ensemble: no one seed's teacher to pair it with
        for group in groups:
            control = [study_dir / f"seed-{s}" / "teacher.logits.npz" for s in group]
            assert rows[f"ens-{k}"].errors[group[0]] == pytest.approx(_ensemble_error(control), abs=1e-4)


@pytest.mark.parametrize("study_dir", [p for p in STUDIES if PRESETS[p.name].ensemble_of], ids=lambda p: p.name)
def test_seed_ensembles_recompute_from_stored_logits(study_dir):
    study = load_study(study_dir)
    k = PRESETS[study_dir.name].ensemble_of
    rows = {row.name: row for row in StudyResults(study).rows()}
    records_by_name = {name: m.record for models in study.models.values() for name, m in models.items()}
    members = [n for n, r in records_by_name.items() if r["model"]["teacher"] is not None] + [study.control_model]
    for model in members:
        having = [s for s in study.seeds if (study_dir / f"seed-{s}" / f"{model}.json").exists()]
        groups = _disjoint_groups(having, k)
        assert set(_row_errors(rows, f"ens{k}-{model}")) == {g[0] for g in groups}
        for group in groups:
            files = [study_dir / f"seed-{s}" / f"{model}.logits.npz" for s in group]
            assert rows[f"ens{k}-{model}"].errors[group[0]] == pytest.approx(_ensemble_error(files), abs=1e-4)
            # paired with the control's ensemble over the same seeds, never with one seed's model
            control = [study_dir / f"seed-{s}" / f"{study.control_model}.logits.npz" for s in group]
            expected = {} if model == study.control_model else {
                group[0]: pytest.approx(_ensemble_error(files) - _ensemble_error(control), abs=1e-4)}
            assert rows[f"ens{k}-{model}"].diffs == expected


@pytest.mark.parametrize("study_dir", STUDIES, ids=lambda p: p.name)
def test_committed_checkpoints_are_small_teachers_that_match_their_records(study_dir):
    for checkpoint in study_dir.glob("seed-*/*.ckpt.pt"):
        model = checkpoint.name.removesuffix(".ckpt.pt")
        assert checkpoint.stat().st_size <= 2 * 1024 * 1024, f"{checkpoint} is over 2 MB"
        files = records.model_files(study_dir, int(checkpoint.parent.name.removeprefix("seed-")), model)
        records.verify(files, "checkpoint")
        plan = study_plan(PRESETS[study_dir.name])
        assert any(model in (spec.teacher, spec.smoothing_from) for spec in plan), f"{checkpoint} teaches no model"


def test_the_intro_says_what_is_recorded():
    intro = (ROOT / "book" / "intro.md").read_text()
    assert intro == recorded.with_status(intro), "run `python -m bannet status --write book/intro.md`"


@pytest.mark.parametrize("study_dir", STUDIES, ids=lambda p: p.name)
def test_the_results_page_counts_seeds_per_kind_where_records_name_them(study_dir):
    study = load_study(study_dir)
    overview = chapter.overview(study_dir.name, study_dir.parent)
    if list(seeds_per_kind(study)) == [UNKNOWN]:
        assert "Seeds per kind" not in overview
    else:
        assert f"{format_seeds_per_kind(study)}." in overview.split("\n\n")[1]
