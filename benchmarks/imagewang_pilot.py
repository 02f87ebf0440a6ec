"""Pilot of the ImageWang study trained on its imbalance: which image size, epochs and logit-adjustment strength τ,
selected on the held-out part of the training set, never on val.

Each candidate SIZE:EPOCHS:TAU trains the label-trained models of --preset (--models: the teacher, and `label`, the
students' architecture from labels) at that image size, that many epochs and logit adjustment τ, exactly as the
study trains them (run_study with only those models; the unlabelled images are not loaded, since no model named
learns from them), so each record holds the 20-way val error, the held-out errors, wall and CPU time and the compute
kind. --teacher tries another teacher network (a cheaper family when DenseNet-121 misses the study's bar). Each
candidate writes its own study folder under OUT; a killed pilot resumes from its last finished epoch. The table
(Markdown, one row per model and seed recorded under OUT) is printed at the end, or alone with --table-only.

Columns: held-out accuracy (all 20 classes, the same number of images of each: the balanced accuracy the
logit-adjusted loss aims at) and on the held-out dog images (the classes val holds), both the argmax over all 20
outputs; val 20-way accuracy (the leaderboard's measure), val accuracy among the ten breeds, and the share of val
predictions that name a breed. Selection is on the held-out accuracy; the val columns are reported, never selected on.

    python benchmarks/imagewang_pilot.py --preset imagewang-balanced-densenet121-resnet18 --data DATA --out PILOTS \
        --candidates 64:9:1 96:12:1 128:12:1 --models teacher label
"""

import argparse
import math
from dataclasses import replace
from pathlib import Path

import torch

from bannet.born_again import run_study
from bannet.compute_kind import kind_label, record_kind
from bannet.ensembles import among_labelled_classes, top1_error_pct
from bannet.formatting import table_rows
from bannet.measures import unlabelled_share_pct
from bannet.models import build
from bannet.presets import PRESETS, Preset, get_preset
from bannet.profiles import PROFILES
from bannet.records import SeedModel, load_study

COLUMNS = ("network", "model", "image px", "epochs", "τ", "seed", "held-out acc %", "held-out dog acc %",
           "val 20-way acc %", "val among-breeds acc %", "val predictions naming a breed %", "wall min", "CPU min",
           "compute kind")
SELECTION = ("Selection is on the held-out accuracy (all 20 classes, the same number of images of each); the val "
             "columns are the leaderboard's measure and its parts, reported and never selected on.")


def candidate(text: str) -> tuple[int, int, float]:
    """SIZE:EPOCHS:TAU as (image size, epochs, τ); argparse reports a malformed one."""
    malformed = argparse.ArgumentTypeError(f"{text!r}: give SIZE:EPOCHS:TAU with SIZE >= 8 pixels, EPOCHS >= 1 and "
                                           "TAU a finite number >= 0")
    try:
        size, epochs, tau = text.split(":")
        size, epochs, tau = int(size), int(epochs), float(tau)
    except ValueError:
        raise malformed from None
    if size < 8 or epochs < 1 or not math.isfinite(tau) or tau < 0:
        raise malformed
    return size, epochs, tau


def candidate_preset(base: Preset, size: int, epochs: int, tau: float, teacher: str | None) -> Preset:
    """The preset a candidate trains: the base at that image size, epochs and τ (and teacher network), without the
    unlabelled images."""
    arch = teacher or base.teacher_arch
    return replace(base, name=f"{base.name}-{arch}-{size}px-{epochs}ep-tau{tau:g}", teacher_arch=arch,
                   max_image_size=size, epochs=epochs, logit_adjustment=tau, unlabelled=False,
                   description=f"pilot of {base.name}: {arch} teacher, {size} px, {epochs} epochs, tau {tau:g}")


def _accuracy(error_pct: float | None) -> str:
    return "" if error_pct is None else f"{100 - error_pct:.2f}"


def row(seed: int, model: SeedModel) -> list[str]:
    """One model's table cells: its settings, held-out and val accuracies, dog share, cost and compute kind."""
    record, cpu = model.record, model.record["provenance"].get("cpu_time_s")
    among = top1_error_pct(among_labelled_classes(model.logits, model.labels), model.labels)
    cells = (record["model"]["arch"], record["model"]["name"], record["data"]["image_size"], record["train"]["epochs"],
             f"{record['preset'].get('logit_adjustment', 0.0):g}", seed, _accuracy(record.get("holdout_error_pct")),
             _accuracy(record.get("holdout_test_classes_error_pct")), _accuracy(record["test_error_pct"]),
             _accuracy(among), f"{100 - unlabelled_share_pct(model.logits, model.labels):.1f}",
             f"{record['provenance']['wall_time_s'] / 60:.1f}", "" if cpu is None else f"{cpu / 60:.1f}",
             kind_label(record_kind(record)))
    return [str(cell) for cell in cells]


def table(out: Path) -> str:
    """The pilot table: one Markdown row per model and seed recorded under `out`, in folder order."""
    rows = []
    for folder in sorted(p for p in out.iterdir() if p.is_dir()):
        study = load_study(folder)
        rows += [row(seed, study.models[seed][name]) for seed in study.seeds for name in study.model_names()
                 if name in study.models[seed]]
    return table_rows(COLUMNS, rows) + "\n\n" + SELECTION


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", choices=[n for n, p in PRESETS.items() if p.dataset == "imagewang"],
                        default="imagewang-balanced-densenet121-resnet18")
    parser.add_argument("--candidates", type=candidate, nargs="+", default=[], metavar="SIZE:EPOCHS:TAU")
    parser.add_argument("--models", nargs="+", choices=["teacher", "label"], default=["teacher"])
    parser.add_argument("--teacher", help="the teacher's network (default: the preset's)")
    parser.add_argument("--holdout-per-class", type=int, help="held-out images per class (default: the preset's)")
    parser.add_argument("--profile", choices=list(PROFILES), default="full", help="smoke: check the script in seconds")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", help="data root (default $BANNET_DATA)")
    parser.add_argument("--out", type=Path, required=True, help="folder of the candidates' study folders")
    parser.add_argument("--table-only", action="store_true", help="print the table of what OUT holds, train nothing")
    args = parser.parse_args(argv)
    if args.teacher is not None:
        build(args.teacher, 20)  # an unknown network fails here, before any training
    base = get_preset(args.preset, args.profile)
    if args.holdout_per_class is not None:
        base = replace(base, holdout_per_class=args.holdout_per_class)
    if base.holdout_per_class is None and not args.table_only:
        parser.error(f"{args.preset} sets no held-out part to select on: give --holdout-per-class")
    for size, epochs, tau in [] if args.table_only else args.candidates:
        preset = candidate_preset(base, size, epochs, tau, args.teacher)
        run_study(preset, [args.seed], args.out / preset.folder_name, torch.device("cpu"), root=args.data,
                  progress=False, download=False, models=args.models)
    print(table(args.out))


if __name__ == "__main__":
    main()
