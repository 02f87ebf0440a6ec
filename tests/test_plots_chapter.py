"""The chapters' shared logic and figures on a tiny synthetic study: statements, tables, provenance, plots."""

import math
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from matplotlib.collections import PathCollection, PolyCollection
from matplotlib.figure import Figure

from bannet import chapter, cost, measures, paper, plots, report, verdicts
from bannet.born_again import run_study
from bannet.compute_kind import kind_label, record_kind
from bannet.errors import MissingFile
from bannet.presets import PRESETS, get_preset, study_plan
from bannet.records import load_study
from bannet.results import Row, StudyResults, verdict
from bannet.stats import mean_ci, seeds_needed
from helpers import CIFAR10_WITHOUT_LOOKAHEAD, paper_design, tiny_mnist_like

TINY = replace(paper_design(get_preset("mnist-mlp", "smoke")), epochs=2, batch_size=64, generations=2,
               students=("cwtm",))
SEEDS = [0, 1]
RESULTS = Path(__file__).resolve().parent.parent / "results"


@pytest.fixture(scope="module")
def tiny_study(tmp_path_factory):
    """A two-seed, two-epoch study (teacher, BAN-1, BAN-2, CWTM) on the synthetic data set, trained once."""
    out = tmp_path_factory.mktemp("study")
    run_study(TINY, SEEDS, out, torch.device("cpu"), data=tiny_mnist_like(), progress=False,
              log=lambda _: None)
    return load_study(out)


def _row(name: str, diff_mean: float, diff_ci: float, n: int = 5) -> Row:
    return Row(name, {s: 1.0 for s in range(n)}, 1.0, 0.1, diff_mean, diff_ci)


@pytest.mark.parametrize(("diff_mean", "diff_ci", "expected"), [
    (-0.5, 0.3, "better"), (0.5, 0.3, "worse"), (-0.2, 0.3, "no difference"), (0.2, 0.3, "no difference"),
    (-0.3, 0.3, "no difference"), (0.1, math.nan, "one seed")])
def test_verdict_follows_the_confidence_interval(diff_mean, diff_ci, expected):
    assert verdict(_row("ban-1", diff_mean, diff_ci)) == expected


def test_a_row_short_of_its_design_pairs_is_interim_whatever_its_interval():
    short = replace(_row("ban-1", -0.5, 0.3), diff_n=3, planned=20)
    assert short.interim and verdict(short) == "interim"
    assert verdict(replace(short, diff_n=20)) == "better"  # judged once the design's pairs are in
    line = verdicts.plain_statement([short], "teacher")
    assert line == "- **ban-1**: -0.50 points against the teacher on 3 of the 20 pairs the design plans; interim, " \
                   "judged when all are recorded."
    assert verdicts._paper_outcome(verdict(short), -0.05) == "interim: compared when the design's pairs are in"
    assert chapter.HEADLINE_WORDS["interim"].startswith("interim")


def test_verdict_refuses_a_row_without_a_paired_difference():
    with pytest.raises(ValueError, match="no paired difference"):
        verdict(_row("teacher", math.nan, math.nan))


def test_plain_statement_says_which_students_beat_the_teacher():
    rows = [_row("teacher", math.nan, math.nan), _row("ban-1", -0.5, 0.3), _row("cwtm", 0.6, 0.2),
            _row("dkpp", -0.1, 0.4), _row("ban-2", 0.3, math.nan, n=1)]
    lines = verdicts.plain_statement(rows, "teacher").splitlines()
    assert len(lines) == 4 and not any("**teacher**" in line for line in lines)
    assert lines[0].startswith("- **ban-1** beats the teacher") and "95% CI -0.80 to -0.20" in lines[0]
    assert lines[1].startswith("- **cwtm** is worse than the teacher") and "+0.40 to +0.80" in lines[1]
    assert lines[2].startswith("- **dkpp** shows no significant difference at 95%") and "includes 0" in lines[2]
    assert "single pair" in lines[3] and "no conclusion" in lines[3]


def test_plain_statement_names_the_label_baseline():
    text = verdicts.plain_statement([_row("label", math.nan, math.nan), _row("ban-1", -1.0, 0.5)], baseline="label")
    assert "beats the student architecture trained from labels" in text


def test_missing_study_is_explained_with_the_exact_command(tmp_path, capsys):
    assert chapter.load_or_explain("cifar10-wrn-28-1", tmp_path) is None
    said = capsys.readouterr().out
    assert "No recorded run of cifar10-wrn-28-1 yet" in said
    assert "python -m bannet run cifar10-wrn-28-1 --seeds 0 1 2 --out results/cifar10-wrn-28-1" in said
    with pytest.raises(ValueError, match="unknown preset"):
        chapter.load_or_explain("no-such-preset", tmp_path)


def test_a_chapter_without_its_study_stops_with_the_command_that_records_it(tmp_path, monkeypatch):
    monkeypatch.setenv("BANNET_DATA", str(tmp_path / "no-data"))
    with pytest.raises(MissingFile, match="python -m bannet run mnist-mlp --seeds 0 1 2 3 4 --out results/mnist-mlp"):
        chapter.open_study("mnist-mlp", train=False, profile="full", results_dir=tmp_path)
    with pytest.raises(MissingFile, match="no data set for a smoke stand-in"):  # the stand-in was tried
        chapter.open_study("mnist-mlp", train=False, profile="smoke", results_dir=tmp_path)
    with pytest.raises(ValueError, match="unknown profile"):
        chapter.open_study("mnist-mlp", train=False, profile="huge", results_dir=tmp_path)
    monkeypatch.setenv("BANNET_PROFILE", "huge")
    with pytest.raises(ValueError, match="unknown profile 'huge' in \\$BANNET_PROFILE"):
        chapter.open_study("mnist-mlp", results_dir=tmp_path)


def test_a_chapter_describes_its_models_and_cost_at_its_class_count():
    described = chapter.models("cifar100-wrn-28-2-to-densenet-112-33").splitlines()
    assert described[1].split()[:3] == ["teacher", "wrn-28-2", "1,479,220"]  # 100 classes, not 10
    assert chapter.cost("mnist-mlp").splitlines()[-2:] == [chapter.run_command("mnist-mlp"), "```"]
    assert "--seeds 0 1 2 3 4 " in chapter.run_command("mnist-mlp")


def test_smoke_study_without_data_says_so(tmp_path):
    with pytest.raises(MissingFile, match="no recorded run of mnist-mlp and no data set for a smoke stand-in"):
        chapter.smoke_study("mnist-mlp", [0], root=tmp_path)


def test_recorded_study_is_found_by_preset_name(tiny_study, tmp_path):
    (tmp_path / "mnist-mlp").symlink_to(tiny_study.path)
    found = chapter.find_study("mnist-mlp", tmp_path)
    assert found is not None and found.seeds == SEEDS


def test_overview_shows_a_recorded_study_or_one_line(tiny_study, tmp_path):
    assert chapter.overview("cifar10-wrn-28-1", tmp_path) == (
        "**cifar10-wrn-28-1**: no recorded study yet; "
        "`python -m bannet run cifar10-wrn-28-1 --seeds 0 1 2 --out results/cifar10-wrn-28-1` records one.")
    (tmp_path / "mnist-mlp").symlink_to(tiny_study.path)
    shown = chapter.overview("mnist-mlp", tmp_path)
    assert "Provenance: 8 trained models" in shown and "| ban-1 | 2 |" in shown and "Δ vs teacher" in shown


def test_headlines_pair_each_studys_first_student_with_its_control(tiny_study, tmp_path):
    assert chapter.headlines(tmp_path).startswith("No recorded study has a born-again student")
    (tmp_path / "cifar10-wrn-28-1").symlink_to(tiny_study.path)
    row = next(r for r in StudyResults(tiny_study).rows() if r.name == "ban-1")
    line = chapter.headlines(tmp_path).splitlines()[2]
    assert line.startswith(f"| `cifar10-wrn-28-1` | 2 | `teacher` | {row.diff_mean:+.2f} ± {row.diff_ci:.2f} |")
    assert line.endswith(f"| {chapter.HEADLINE_WORDS[verdict(row)]} |  |  |")  # a smoke run: no paper
    recorded = chapter.headlines(RESULTS)
    line = next(line for line in recorded.splitlines() if line.startswith("| `cifar100-wrn-16-2-9ep` | 5 |"))
    assert line.endswith("| -1.30 | Different regime: our teacher 44.74% test error at 9 epochs, the paper's 18.25% "
                         "at 300 epochs |")
    assert recorded.endswith(f"Regime: {paper.REGIME_RULE}; in a different regime the two differences are set side "
                             "by side, not compared.")


def test_the_paper_column_stands_beside_full_runs_only(tiny_study):
    recorded = load_study(Path(__file__).resolve().parent.parent / "results" / "cifar100-wrn-16-2-9ep")
    table = report.study_table(StudyResults(recorded))
    teacher = next(line for line in table.splitlines() if line.startswith("| teacher |"))
    assert teacher.endswith("| 18.25 |")
    assert "Paper column: Furlanello et al. 2018, Table 2" in table
    smoke = report.study_table(StudyResults(tiny_study))
    assert "| 18.25 |" not in smoke and smoke.endswith("A smoke run: the paper's figures are not set beside it.")
    assert report.paper_table("mnist-mlp") == "No paper figures are quoted for `mnist-mlp`."
    assert report.paper_table("cifar10-wrn-28-2").splitlines()[2:4] == ["| teacher | 5.06 |", "| ban-1 | 4.86 |"]


def test_heading_and_schedule_come_from_the_records(tiny_study):
    assert report.heading(tiny_study).startswith("**Smoke run of `mnist-mlp`: not a result.**")
    assert "256 training and 128 test images" in report.heading(tiny_study)
    assert report.schedule(tiny_study).startswith("2 epochs per model, batches of 64")
    assert report.schedule(tiny_study).endswith("learning rate by epoch: 0.1, 0.02.")


def test_provenance_lists_every_model(tiny_study):
    lines = report.provenance_table(tiny_study).splitlines()[2:]
    assert [line.split(" | ")[0] for line in lines] == [f"| {spec.name}" for spec in study_plan(TINY)]
    assert all(line.split(" | ")[1:3] == ["2", "2"] for line in lines)
    assert report.provenance_summary(tiny_study).startswith(f"{2 * len(study_plan(TINY))} trained models")


def test_default_seeds_cover_the_seed_ensembles():
    assert chapter.default_seeds("cifar10-wrn-28-1") == (0, 1, 2)
    k = get_preset("imagewang-densenet121-resnet18").ensemble_of or 0
    assert len(chapter.default_seeds("imagewang-densenet121-resnet18")) == max(3, k)
    assert chapter.run_command("mnist-mlp", range(5)).startswith("python -m bannet run mnist-mlp --seeds 0 1 2 3 4 ")


def test_scale_counts_trainings_and_epochs():
    models = "7: teacher, ban-1, ban-2, ban-3, ban+l, cwtm, dkpp"
    assert chapter.scale("cifar10-wrn-28-1") == ("cifar10-wrn-28-1", models, "200", "3", "21", "4,200")
    _, models, epochs, seeds, trainings, total = chapter.scale("cifar100-wrn-16-2-9ep")
    # 10 models of 9 epochs and teacher-2x of 18 on 3 seeds; teacher and ban-1 alone, 9 epochs each, on 2
    assert models.startswith("11: teacher, ban-1") and epochs == "9 (teacher-2x 18)"
    assert (seeds, trainings, total) == ("5 (2 train only teacher and ban-1)", "37", "360")
    assert chapter.cost("cifar100-wrn-16-2-9ep").count("| cifar100-wrn-16-2-9ep |") == 1


def test_learning_curves_draw_one_line_and_band_per_model(tiny_study):
    figure = plots.learning_curves(tiny_study)
    whole, tail = figure.axes
    for ax in (whole, tail):
        assert len(ax.lines) == len(tiny_study.model_names())
        assert sum(isinstance(c, PolyCollection) for c in ax.collections) == len(tiny_study.model_names())
    assert all(len(line.get_xdata()) == 2 for line in whole.lines)
    low, high = tail.get_ylim()  # the zoom holds every mean of its epochs
    assert all(low <= y <= high for line in tail.lines for y in line.get_ydata())
    with pytest.raises(ValueError, match="not in the study"):
        plots.learning_curves(tiny_study, ["ban-9"])


def test_paired_differences_show_each_row_against_the_teacher(tiny_study):
    rows = StudyResults(tiny_study).rows()
    figure = plots.paired_differences(rows, "teacher")
    (ax,) = figure.axes
    compared = [r for r in rows if r.diff_n > 0]  # ens-2 averages teachers over seeds: nothing to pair it with
    assert [t.get_text() for t in ax.get_xticklabels()] == [r.name for r in compared]
    assert ax.get_xlim() == (-0.5, len(compared) - 0.5)  # one slot per row, whatever the number of rows
    dots = [c for c in ax.collections if isinstance(c, PathCollection)]  # one scatter of seeds per row
    assert [d.get_offsets().shape[0] for d in dots] == [r.n for r in compared]
    first = compared[0]
    assert sorted(dots[0].get_offsets()[:, 1]) == pytest.approx(
        sorted(first.errors[s] - rows[0].errors[s] for s in SEEDS))


def test_teacher_confidence_splits_correct_and_wrong(tiny_study):
    figure = plots.teacher_confidence(tiny_study)
    (ax,) = figure.axes
    assert len(ax.containers) == 2
    counted = sum(bar.get_height() for container in ax.containers for bar in container)
    assert counted == len(SEEDS) * 128


def _without_data(name: str, seeds: list[int]) -> None:
    raise MissingFile("no data here")


def test_a_page_stands_in_a_smoke_run_for_its_first_study_only(tmp_path, capsys, monkeypatch):
    stood_in = []
    monkeypatch.setattr(chapter, "smoke_study", lambda name, seeds: stood_in.append(name))
    monkeypatch.setenv("BANNET_PROFILE", "smoke")
    chapter.show(["cifar10-wrn-28-1", "cifar10-wrn-28-2"], results_dir=tmp_path)  # nothing recorded there
    assert stood_in == ["cifar10-wrn-28-1"]
    assert "No recorded run of cifar10-wrn-28-2 yet" in capsys.readouterr().out
    monkeypatch.setattr(chapter, "smoke_study", _without_data)
    chapter.show(["cifar10-wrn-28-1"], results_dir=tmp_path)  # without its data set: said, not raised
    assert "Smoke run skipped: no data here" in capsys.readouterr().out


def _with_paper_teacher(study, error: float):
    """The study with every record quoting `error` as the paper's teacher (the records are the report's only source)."""
    for models in study.models.values():
        for model in models.values():
            model.record["preset"]["paper"] = {"teacher": error, "ban-1": error - 0.05}
            model.record["preset"]["paper_epochs"] = 200
    return study


@pytest.mark.parametrize(("offset", "same"), [(0.0, True), (0.99, True), (-1.01, False), (8.0, False)])
def test_a_study_is_in_the_papers_regime_only_within_a_point_of_its_teacher(offset, same):
    setting = paper.Regime(ours_error=14.0, ours_epochs=11, paper_error=14.0 + offset, paper_epochs=200)
    assert setting.same is same
    assert setting.describe().startswith("The paper regime" if same else "Different regime")
    assert "at 11 epochs" in setting.describe() and "at 200 epochs" in setting.describe()


def test_our_rows_are_tested_against_the_paper_only_in_its_regime():
    study = load_study(RESULTS / "cifar10-wrn-28-1-11ep")
    rows = StudyResults(study).rows()
    teacher, ban = (next(row for row in rows if row.name == name) for name in ("teacher", "ban-1"))
    apart = verdicts.against_paper(StudyResults(study)).splitlines()
    assert apart[0] == (f"Different regime: set side by side, not compared. (our teacher {teacher.mean:.2f}% test "
                        "error at 11 epochs, the paper's 6.69% at 200 epochs)")
    assert "contradicts" not in "\n".join(apart) and "agrees" not in "\n".join(apart)
    assert apart[2] == "| row | the paper − its teacher, one run | ours − our teacher, paired seeds |"
    assert apart[4] == f"| ban-1 | -0.05 | +{ban.diff_mean:.2f} ± {ban.diff_ci:.2f} (8) |"
    close = verdicts.against_paper(StudyResults(_with_paper_teacher(study, teacher.mean + 0.5))).splitlines()
    sd = float(np.std(list(ban.diffs.values()), ddof=1))
    assert close[0].startswith("The paper's regime.")
    assert close[4].endswith(f"| **ours contradicts it** | {seeds_needed(sd, -0.05):,} |")


def test_before_any_row_is_paired_the_paper_table_is_a_sentence(tmp_path):
    (tmp_path / "seed-0").mkdir()
    for name in ("teacher.json", "teacher.logits.npz"):  # a study whose first model alone is recorded
        shutil.copy(RESULTS / "cifar10-wrn-28-1-11ep" / "seed-0" / name, tmp_path / "seed-0" / name)
    lines = verdicts.against_paper(StudyResults(load_study(tmp_path))).splitlines()
    assert lines[0].startswith("Different regime") and lines[1:] == ["", "No row the paper reports is paired with our "
                                                                        "teacher yet."]


def test_the_report_reads_the_papers_figures_from_the_records_not_the_live_preset(monkeypatch):
    study = load_study(RESULTS / "cifar10-wrn-28-1-11ep")
    before = report.study_table(StudyResults(study))
    preset = PRESETS["cifar10-wrn-28-1-11ep"]
    monkeypatch.setitem(PRESETS, preset.name, replace(preset, paper={"teacher": 1.0}, budget_hours=1))
    assert report.study_table(StudyResults(study)) == before and "6.69" in before
    assert "Budget: 6 hours of training wall time" in cost.compute_spent(study)


def test_generations_bane_against_ens_confidence_and_compute(tiny_study):
    figure = plots.generations(StudyResults(tiny_study))
    ax = figure.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["teacher", "ban-1", "ban-2"]
    assert len(ax.lines) >= len(SEEDS)  # one grey line per seed (error bars add their own)
    # ens-2 averages the teachers of a group of seeds: never paired with one seed's bane-2
    assert "no seed has both yet" in verdicts.paired_statement(StudyResults(tiny_study), "bane-2", "ens-2")
    assert "no seed has both yet" in verdicts.paired_statement(StudyResults(tiny_study), "ban-2", "no-such-row")
    table = measures.teacher_confidence(tiny_study).splitlines()[2:]
    assert len(table) == len(SEEDS)
    train_top, non_top = (float(x) for x in table[0].split(" | ")[1:3])
    assert train_top + non_top == pytest.approx(1.0, abs=2e-3) and 0.1 <= train_top <= 1.0
    test_top = tiny_study.models[0]["teacher"].logits.double().softmax(1).amax(1).mean().item()
    assert float(table[0].split(" | ")[3]) == pytest.approx(test_top, abs=1e-3)
    by_model = measures.confidence_on_test(tiny_study, ["teacher", "ban-2", "no-such-model"]).splitlines()[2:]
    seeds = str(len(SEEDS))
    assert [line.split(" | ")[:2] for line in by_model] == [["| teacher", seeds], ["| ban-2", seeds]]
    teacher_tops = [tiny_study.models[s]["teacher"].logits.double().softmax(1).amax(1).mean().item() for s in SEEDS]
    assert float(by_model[0].split(" | ")[2].split(" ± ")[0]) == pytest.approx(sum(teacher_tops) / len(SEEDS), abs=1e-3)
    spent = cost.compute_spent(tiny_study)
    models = 2 * len(study_plan(TINY))
    cpu = sum(m.record["provenance"]["cpu_time_s"] for s in tiny_study.models.values() for m in s.values()) / 3600
    assert spent.startswith(f"{models} trained models: {cpu:.2f} CPU-hours (process CPU time summed over threads; "
                            "all records measured it; by compute kind: ")
    label = kind_label(record_kind(tiny_study.first_record()))
    assert f"by compute kind: {cpu:.2f} h on {label})" in spent  # one machine trained them all
    assert "Budget" not in spent  # a smoke run is not the study its preset budgets


def test_the_cost_line_counts_cpu_hours_says_what_it_misses_and_sets_the_wall_time_against_the_budget():
    recorded = load_study(RESULTS / "cifar10-wrn-28-1-11ep")
    records = [m.record for s in recorded.models.values() for m in s.values()]
    wall = sum(r["provenance"]["wall_time_s"] for r in records) / 3600
    cpu = sum(r["provenance"]["cpu_time_s"] for r in records) / 3600
    spent = cost.compute_spent(recorded)
    assert spent.startswith(f"25 trained models: {cpu:.2f} CPU-hours") and "CPU-hours" not in spent.split("Budget")[1]
    assert spent.endswith(f"Budget: 6 hours of training wall time, as the study was planned; it took {wall:.2f} h, "
                          f"{wall / 6:.0%} of it.")
    partial = cost.compute_spent(load_study(RESULTS / "cifar100-wrn-16-2-9ep"))
    assert "measured by 34 of the 37 records; the other 3 predate the measurement and are not counted" in partial
    assert "by compute kind" not in partial  # its records predate the compute kinds


def test_a_very_wide_interval_leaves_the_axis_with_an_arrow_instead_of_flattening_it():
    rows = [_row("teacher", math.nan, math.nan),
            Row("ban-1", {0: 1, 1: 1}, 1, 0, -0.2, 25.0, 2, {0: -0.1, 1: -0.3}),  # 2 seeds: a huge t interval
            Row("cwtm", {0: 1, 1: 1}, 1, 0, 0.1, 0.2, 2, {0: 0.0, 1: 0.2})]
    ax = plots.paired_differences(rows, "teacher").axes[0]
    low, high = ax.get_ylim()
    assert high - low < 2  # the axis follows the dots and means, not the ±25 interval
    arrows = [line.get_marker() for line in ax.lines if line.get_marker() in ("^", "v")]
    assert sorted(arrows) == ["^", "v"]  # ban-1's interval runs off both ends


def test_render_follows_every_figure_with_its_caption(tiny_study, monkeypatch):
    import IPython.display

    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda *objects: shown.append(objects))
    chapter.render(tiny_study)
    figures = [objects for objects in shown if isinstance(objects[0], Figure)]
    assert len(figures) == 3
    assert all(len(objects) == 2 and objects[1].data.startswith(f"*Figure ({tiny_study.name}): ")
               for objects in figures)


def test_the_fit_table_reads_each_measure_from_the_records_and_says_where_none_is_recorded(tmp_path):
    for seed in (5, 6):
        shutil.copytree(CIFAR10_WITHOUT_LOOKAHEAD / f"seed-{seed}", tmp_path / f"seed-{seed}")
    record = tmp_path / "seed-6" / "ban-1.json"  # an older record without the training-set measure
    text = record.read_text()
    record.write_text(text.replace('"train_error_plain_pct"', '"train_error_plain_pct_absent"'))
    study = load_study(tmp_path)
    lines = measures.fit_table(study, ["teacher", "ban-1", "ban-7"]).splitlines()
    teacher = [study.record(s, "teacher") for s in (5, 6)]
    mean, ci = mean_ci([r["train_error_plain_pct"] for r in teacher])
    assert f"| {mean:.2f} ± {ci:.2f} |" in lines[2] and lines[2].startswith("| teacher | 2 |")
    ban = study.record(5, "ban-1")["train_error_plain_pct"]
    assert f"| {ban:.2f} (1 of 2 seeds) |" in lines[3]  # one value: no interval, and the count says so
    assert len(lines) == 4  # a model with no record is left out
    assert "not recorded" in measures.fit_table(load_study(RESULTS / "cifar10-wrn-28-1-11ep"), ["teacher"])
