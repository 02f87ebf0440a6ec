"""Figures of a study: learning curves, generations, paired differences to a baseline, the teacher's confidence."""

import math

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from bannet import ensembles, row_names
from bannet.records import Study
from bannet.results import Row, StudyResults
from bannet.stats import mean_ci

DPI = 90


def _figure(width: float = 6.4, height: float = 3.6) -> tuple[Figure, Axes]:
    """A standalone figure (no pyplot state, so a notebook shows it once) with one axes."""
    figure = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    return figure, figure.add_subplot()


def _mean_band(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per column of a seeds × epochs array: mean and 95% CI half-width (NaN with one seed)."""
    pairs = [mean_ci(list(column)) for column in values.T]
    return np.array([m for m, _ in pairs]), np.array([c for _, c in pairs])


def learning_curves(study: Study, models: list[str] | None = None) -> Figure:
    """Test error (%) against epoch, one line per model: the mean over seeds, shaded ± its 95% CI; the right panel
    zooms into the last third of training, where the curves of similar models would otherwise merge into one band."""
    names = models or study.model_names()
    unknown = [n for n in names if n not in study.model_names()]
    if unknown:
        raise ValueError(f"models {unknown} are not in the study; it has {study.model_names()}")
    figure = Figure(figsize=(11.0, 4.4), dpi=DPI, layout="constrained")
    whole, tail = figure.subplots(1, 2)
    tail_values = []
    for name in names:
        curves = [[100 * (1 - e["test_acc"]) for e in study.record(s, name)["epochs"]]
                  for s in study.seeds if name in study.models[s]]
        length = min(len(c) for c in curves)
        mean, ci = _mean_band(np.array([c[:length] for c in curves]))
        epochs = np.arange(1, length + 1)
        last = epochs > length - max(2, length // 3)
        for ax, shown in ((whole, slice(None)), (tail, last)):
            (line,) = ax.plot(epochs[shown], mean[shown], marker="o", markersize=3,
                              label=f"{name} ({len(curves)} seeds)")
            if not np.isnan(ci).all():
                ax.fill_between(epochs[shown], (mean - ci)[shown], (mean + ci)[shown], color=line.get_color(),
                                alpha=0.15, linewidth=0)
        tail_values += list(mean[last])
    low, high = min(tail_values), max(tail_values)
    margin = max(0.15 * (high - low), 0.05)
    tail.set_ylim(low - margin, high + margin)  # the bands may leave the panel; the means stay inside
    for ax, title in ((whole, "all epochs"), (tail, "last third, zoomed")):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("epoch")
        ax.set_ylabel("test error (%)")
        ax.set_title(f"Learning curves, {title}: mean over seeds, band = 95% CI", fontsize="medium")
    handles, labels = whole.get_legend_handles_labels()
    figure.legend(handles, labels, loc="outside lower center", ncols=min(len(labels), 6), fontsize="small")
    return figure


def generations(results: StudyResults) -> Figure:
    """Test error (%) by generation (0 = the teacher, k = ban-k): one grey line per seed, the mean ± 95% CI, and
    beside each k ≥ 2 the born-again ensemble bane-k and the independent ensemble ens-k of the same seeds."""
    study, table = results.study, results.seed_errors()
    chain = ["teacher"] + [name for k in range(1, ensembles.generations(study) + 1)
                           if (name := row_names.generation(k)) in table]
    figure, ax = _figure()
    for seed in study.seeds:
        points = [(k, table[name][seed]) for k, name in enumerate(chain) if seed in table[name]]
        ax.plot(*zip(*points), color="tab:gray", linewidth=0.8, alpha=0.6, zorder=1)
    for k, name in enumerate(chain):
        mean, ci = mean_ci(list(table[name].values()))
        ax.errorbar(k, mean, yerr=0.0 if math.isnan(ci) else ci, fmt="o", color="tab:blue", capsize=4, zorder=3,
                    label="generation: mean ± 95% CI" if k == 0 else None)
    averaged = ((row_names.born_again_ensemble, "bane-k", "tab:green"), (row_names.ensemble, "ens-k", "tab:orange"))
    for offset, (name_of, label, colour) in zip((0.15, 0.3), averaged):
        for k in range(2, len(chain)):
            errors = table.get(name_of(k), {})
            if errors:
                mean, ci = mean_ci(list(errors.values()))
                ax.errorbar(k + offset, mean, yerr=0.0 if math.isnan(ci) else ci, fmt="s", color=colour, capsize=4,
                            zorder=3, label=f"{label}: mean ± 95% CI" if k == 2 else None)
    ax.set_xticks(range(len(chain)), chain)
    ax.set_xlabel("generation")
    ax.set_ylabel("test error (%)")
    ax.set_title("Born-again generations, seeds (grey) and ensembles")
    ax.legend(fontsize="small")
    return figure


def paired_differences(rows: list[Row], baseline: str) -> Figure:
    """Per seed, row error − baseline error of the same seed (dots), with the mean ± 95% CI (bar); 0 = no change.
    An interval that leaves the axis ends in an arrow (▲/▼) at its edge."""
    by_name = {row.name: row for row in rows}
    if baseline not in by_name:
        raise ValueError(f"baseline {baseline!r} is not among the rows {list(by_name)}")
    shown = [row for row in rows if row.name != baseline and not math.isnan(row.diff_mean)]
    figure, ax = _figure(max(4.0, 0.7 * len(shown) + 1.5), 3.6)
    ax.axhline(0.0, color="black", linewidth=0.8)
    for x, row in enumerate(shown):
        diffs = list(row.diffs.values())
        ax.scatter(np.full(len(diffs), x) + np.linspace(-0.12, 0.12, len(diffs)), diffs, s=14, color="tab:gray",
                   zorder=2)
        ci = 0.0 if math.isnan(row.diff_ci) else row.diff_ci
        ax.errorbar(x, row.diff_mean, yerr=ci, fmt="D", color="tab:red", capsize=4, zorder=3)
    # The axis follows the seeds and means: an interval from two or three seeds can be ten times wider than
    # the rest and would flatten every other row; such an interval runs off the axis, marked by an arrow.
    points = [d for row in shown for d in row.diffs.values()] + [row.diff_mean for row in shown] + [0.0]
    low, high = min(points), max(points)
    margin = 0.25 * max(high - low, 0.1)
    ax.set_ylim(low - margin, high + margin)
    for x, row in enumerate(shown):
        if not math.isnan(row.diff_ci):
            for end, edge, marker in ((row.diff_mean + row.diff_ci, high + margin, "^"),
                                      (row.diff_mean - row.diff_ci, low - margin, "v")):
                if (end > edge) if marker == "^" else (end < edge):
                    ax.plot(x, edge, marker=marker, color="tab:red", clip_on=False, zorder=4)
    ax.set_xlim(-0.5, len(shown) - 0.5)  # a lone row keeps its seeds' jitter narrow, not stretched to the edges
    ax.set_xticks(range(len(shown)), [row.name for row in shown], rotation=45, ha="right")
    ax.set_ylabel(f"error − {baseline} error (points)")
    ax.set_title(f"Paired differences to the {baseline}: seeds (dots), mean ± 95% CI")
    return figure


def teacher_confidence(study: Study, model: str = "teacher", bins: int = 20) -> Figure:
    """Histogram of max softmax on the test set, all seeds pooled, split into correct and wrong predictions."""
    if model not in study.model_names():
        raise ValueError(f"model {model!r} is not in the study; it has {study.model_names()}")
    confidence, correct = [], []
    for seed in study.seeds:
        if model in study.models[seed]:
            entry = study.models[seed][model]
            top, predicted = entry.logits.float().softmax(1).max(1)
            confidence.append(top.numpy())
            correct.append((predicted == entry.labels).numpy())
    confidence, correct = np.concatenate(confidence), np.concatenate(correct)
    figure, ax = _figure()
    edges = np.linspace(0.0, 1.0, bins + 1)
    ax.hist(confidence[correct], bins=edges, alpha=0.7, label=f"correct ({correct.sum()})")
    ax.hist(confidence[~correct], bins=edges, alpha=0.7, label=f"wrong ({(~correct).sum()})")
    ax.set_yscale("log")
    ax.set_xlabel(f"{model}'s max softmax probability")
    ax.set_ylabel("test images (log scale)")
    ax.set_title(f"How sure the {model} is: {len(study.seeds)} seeds pooled")
    ax.legend(fontsize="small")
    return figure
