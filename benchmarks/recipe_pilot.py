"""Pilot of a preset's recipe: which network and how many epochs reach the paper's teacher accuracy, at what cost.

Each candidate ARCH:EPOCHS[:LR] is the label-trained teacher of --preset (its data set, recipe, batch, and learning
rate unless LR is given) with that network and that many epochs, trained exactly as a study trains it (run_study with
only the teacher), so its record holds the plain and the test-time-augmented test error, the error on the un-augmented
training images, wall and CPU time and the compute kind. A network of another family than the preset's takes the
recipe's optimiser, schedule and augmentation, and usually its own learning rate. Each candidate writes its own study
folder, OUT/<preset>-<arch>-<epochs>ep[-lr<LR>][-<recipe>][-<precision>]; a killed pilot resumes from its last
finished epoch. `--recipe` trains the candidates by another recipe than the preset's (the fast recipe is airbench
without lookahead, airbench-lookahead with it).
The table (Markdown, one row per record found under OUT) is printed at the end, or alone with --table-only.

    python benchmarks/recipe_pilot.py --preset cifar10-airbench --data DATA --out PILOTS \
        --candidates airbench-64-256-256:10 airbench-64-256-256:15 wrn-16-4:15:2.0

`--precision fp32` (or `bf16`) trains the candidates in that precision instead of what `auto` picks, into folders
named after it; where OUT holds a candidate's teacher of the same seed on the same processor in bf16 and in fp32, a
second table gives bf16 − fp32 seed by seed and, over two or more seeds, its paired mean ± 95% interval: whether
bf16 autocast trains this recipe as fp32 does, measured where the studies train. `--baseline STUDY` pairs each
candidate's teachers with the teachers of the same seeds in a recorded study folder, trained on the same compute kind:
whether a candidate beats the recipe a study already uses.
"""

import argparse
import re
from dataclasses import replace
from pathlib import Path

import torch
from schedule_pilot import candidate

from bannet.born_again import run_study
from bannet.compute_kind import UNKNOWN, kind_label, processor_label, record_kind
from bannet.formatting import signed, table_rows
from bannet.precision import PRECISIONS
from bannet.presets import PRESETS, get_preset
from bannet.profiles import PROFILES
from bannet.recipes import RECIPES
from bannet.records import Study, load_study
from bannet.stats import mean_ci

COLUMNS = ("data set", "network", "recipe", "epochs", "lr", "seed", "plain test acc %", "flip-TTA test acc %",
           "un-augmented train acc %", "wall min", "CPU min", "compute kind")
PAIR_COLUMNS = ("data set", "network", "recipe", "epochs", "lr", "processor", "seeds", "bf16 − fp32 by seed, points",
                "paired mean ± 95% CI")
BASELINE_COLUMNS = ("network", "recipe", "epochs", "lr", "compute kind", "seeds",
                    "candidate − baseline by seed, points", "paired mean ± 95% CI")


def fast_candidate(text: str) -> tuple[str, int, float | None]:
    """ARCH:EPOCHS[:LR] as (arch, epochs, lr or None); argparse reports a malformed one."""
    head, _, lr = text.rpartition(":") if text.count(":") == 2 else (text, "", "")
    arch, epochs = candidate(head)
    if not lr:
        return arch, epochs, None
    if not re.fullmatch(r"\d*\.?\d+(e-?\d+)?", lr) or not float(lr) > 0:
        raise argparse.ArgumentTypeError(f"{text!r}: give ARCH:EPOCHS:LR with LR > 0 (per 1024 images)")
    return arch, epochs, float(lr)


def teachers(out: Path) -> list[tuple[int, dict]]:
    """(seed, record) of every teacher recorded under `out`, in folder and seed order."""
    studies: list[Study] = [load_study(folder) for folder in sorted(p for p in out.iterdir() if p.is_dir())]
    return [(seed, study.record(seed, "teacher")) for study in studies for seed in study.seeds]


def table(out: Path) -> str:
    """One Markdown row per teacher recorded under `out`, in folder order."""
    rows = []
    for seed, record in teachers(out):
        tta = record.get("test_error_tta_pct")
        cpu = record["provenance"].get("cpu_time_s")
        cells = (record["preset"]["dataset"], record["model"]["arch"], record["train"]["recipe"],
                 record["train"]["epochs"], f"{record['preset']['lr']:g}", seed,
                 f"{100 - record['test_error_pct']:.2f}", "" if tta is None else f"{100 - tta:.2f}",
                 f"{100 - record['train_error_plain_pct']:.2f}", f"{record['provenance']['wall_time_s'] / 60:.1f}",
                 "" if cpu is None else f"{cpu / 60:.1f}", kind_label(record_kind(record)))
        rows.append(list(map(str, cells)))
    return table_rows(COLUMNS, rows)


def precision_pairs(out: Path) -> str:
    """Markdown: per candidate and processor trained in both precisions, bf16 − fp32 plain test error by seed and,
    over two or more seeds, its paired mean ± 95% interval; "" when no seed has both."""
    by_candidate: dict[tuple, dict[int, dict[str, float]]] = {}
    for seed, record in teachers(out):
        kind = record_kind(record)
        if kind is None:
            continue
        candidate = (record["preset"]["dataset"], record["model"]["arch"], record["train"]["recipe"],
                     record["train"]["epochs"],
                     f"{record['preset']['lr']:g}", f"{processor_label(kind)}, {kind['threads']} threads")
        by_candidate.setdefault(candidate, {}).setdefault(seed, {})[kind["precision"]] = record["test_error_pct"]
    rows = []
    for (dataset, arch, recipe, epochs, lr, processor), seeds in by_candidate.items():
        differences = {seed: errors["bf16 autocast"] - errors["fp32"] for seed, errors in sorted(seeds.items())
                       if errors.keys() >= {"bf16 autocast", "fp32"}}
        if not differences:
            continue
        rows.append([dataset, arch, recipe, str(epochs), lr, processor, *_paired(differences)])
    return table_rows(PAIR_COLUMNS, rows) if rows else ""


def _paired(differences: dict[int, float]) -> list[str]:
    """Cells: how many seeds, the difference of each, and over two or more their mean ± 95% interval."""
    mean, ci = mean_ci(list(differences.values()))
    interval = f"{signed(mean)} ± {ci:.2f}" if len(differences) > 1 else "one seed: no interval"
    by_seed = ", ".join(f"{seed}: {signed(d)}" for seed, d in differences.items())
    return [str(len(differences)), by_seed, interval]


def baseline_pairs(out: Path, baseline: Path) -> str:
    """Markdown: per candidate, its plain test error minus that of the teacher of the same seed in the study folder
    `baseline`, trained on the same compute kind (processor, precision, threads, torch), by seed and, over two or more
    seeds, its paired mean ± 95% interval; "" when no seed pairs."""
    study = load_study(baseline)
    reference = {seed: study.record(seed, "teacher") for seed in study.seeds if "teacher" in study.models[seed]}
    by_candidate: dict[tuple, dict[int, float]] = {}
    for seed, record in teachers(out):
        kind = kind_label(record_kind(record))
        if seed not in reference or kind_label(record_kind(reference[seed])) != kind or kind == UNKNOWN:
            continue
        candidate = (record["model"]["arch"], record["train"]["recipe"], record["train"]["epochs"],
                     f"{record['preset']['lr']:g}", kind)
        by_candidate.setdefault(candidate, {})[seed] = record["test_error_pct"] - reference[seed]["test_error_pct"]
    rows = [[arch, recipe, str(epochs), lr, kind, *_paired(dict(sorted(differences.items())))]
            for (arch, recipe, epochs, lr, kind), differences in by_candidate.items()]
    return table_rows(BASELINE_COLUMNS, rows) if rows else ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", choices=list(PRESETS), required=True)
    parser.add_argument("--candidates", type=fast_candidate, nargs="+", default=[], metavar="ARCH:EPOCHS[:LR]")
    parser.add_argument("--profile", choices=list(PROFILES), default="full", help="smoke: check the script in seconds")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--precision", choices=PRECISIONS, default="auto",
                        help="train in this precision (default: what `auto` picks on this machine)")
    parser.add_argument("--recipe", choices=list(RECIPES), help="train by this recipe instead of the preset's")
    parser.add_argument("--data", help="data root (default $BANNET_DATA)")
    parser.add_argument("--out", type=Path, required=True, help="folder of the candidates' study folders")
    parser.add_argument("--baseline", type=Path, help="a recorded study folder whose teachers each candidate's are "
                                                          "paired with, seed by seed, on the same compute kind")
    parser.add_argument("--table-only", action="store_true", help="print the table of what OUT holds, train nothing")
    args = parser.parse_args()
    if args.baseline is not None and not args.baseline.is_dir():
        parser.error(f"--baseline {args.baseline}: no such study folder")
    base = get_preset(args.preset, args.profile)
    recipe = args.recipe or base.recipe
    for arch, epochs, lr in [] if args.table_only else args.candidates:
        name = (f"{base.name}-{arch}-{epochs}ep" + ("" if lr is None else f"-lr{lr:g}")
                + ("" if recipe == base.recipe else f"-{recipe}")
                + ("" if args.precision == "auto" else f"-{args.precision}"))
        preset = replace(base, name=name, teacher_arch=arch, student_arch=arch, epochs=epochs,
                         lr=base.lr if lr is None else lr, recipe=recipe,
                         description=f"pilot of {base.name}: {arch}, {epochs} epochs, teacher only")
        run_study(preset, args.seeds, args.out / preset.name, torch.device("cpu"), root=args.data, progress=False,
                  download=False, models=["teacher"], precision=args.precision)
    print(table(args.out))
    pairs = precision_pairs(args.out)
    if pairs:
        print("\nThe same teachers in bf16 autocast and in fp32, paired by seed on one processor (plain test error):\n")
        print(pairs)
    if args.baseline is not None:
        pairs = baseline_pairs(args.out, args.baseline)
        print(f"\nEach candidate's teachers minus the teacher of the same seed in {args.baseline.name}, on the same "
              f"compute kind (plain test error):\n")
        print(pairs or "no seed of a candidate has a teacher there on the same compute kind")


if __name__ == "__main__":
    main()
