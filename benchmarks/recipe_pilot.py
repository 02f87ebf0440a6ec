"""Pilot of a preset's recipe: which network and how many epochs reach the paper's teacher accuracy, at what cost.

Each candidate ARCH:EPOCHS[:LR] is the label-trained teacher of --preset (its data set, recipe, batch, and learning
rate unless LR is given) with that network and that many epochs, trained exactly as a study trains it (run_study with
only the teacher), so its record holds the plain and the test-time-augmented test error, the error on the un-augmented
training images, wall and CPU time and the compute kind. A network of another family than the preset's takes the
recipe's optimiser, schedule and augmentation, and usually its own learning rate. Each candidate writes its own study
folder, OUT/<preset>-<arch>-<epochs>ep[-lr<LR>]; a killed pilot resumes from its last finished epoch. The table
(Markdown, one row per record found under OUT) is printed at the end, or alone with --table-only.

    python benchmarks/recipe_pilot.py --preset cifar10-airbench --data DATA --out PILOTS \
        --candidates airbench-64-256-256:10 airbench-64-256-256:15 wrn-16-4:15:2.0
"""

import argparse
import re
from dataclasses import replace
from pathlib import Path

import torch
from schedule_pilot import candidate

from bannet.born_again import run_study
from bannet.compute_kind import kind_label, record_kind
from bannet.presets import PRESETS, get_preset
from bannet.profiles import PROFILES
from bannet.records import load_study

COLUMNS = ("data set", "network", "epochs", "lr", "seed", "plain test acc %", "flip-TTA test acc %",
           "un-augmented train acc %", "wall min", "CPU min", "compute kind")


def fast_candidate(text: str) -> tuple[str, int, float | None]:
    """ARCH:EPOCHS[:LR] as (arch, epochs, lr or None); argparse reports a malformed one."""
    head, _, lr = text.rpartition(":") if text.count(":") == 2 else (text, "", "")
    arch, epochs = candidate(head)
    if not lr:
        return arch, epochs, None
    if not re.fullmatch(r"\d*\.?\d+(e-?\d+)?", lr) or not float(lr) > 0:
        raise argparse.ArgumentTypeError(f"{text!r}: give ARCH:EPOCHS:LR with LR > 0 (per 1024 images)")
    return arch, epochs, float(lr)


def table(out: Path) -> str:
    """One Markdown row per teacher recorded under `out`, in folder order."""
    rows = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for folder in sorted(p for p in out.iterdir() if p.is_dir()):
        study = load_study(folder)
        for seed in study.seeds:
            record = study.record(seed, "teacher")
            tta = record.get("test_error_tta_pct")
            cpu = record["provenance"].get("cpu_time_s")
            cells = (record["preset"]["dataset"], record["model"]["arch"], record["train"]["epochs"],
                     f"{record['preset']['lr']:g}", seed,
                     f"{100 - record['test_error_pct']:.2f}", "" if tta is None else f"{100 - tta:.2f}",
                     f"{100 - record['train_error_plain_pct']:.2f}", f"{record['provenance']['wall_time_s'] / 60:.1f}",
                     "" if cpu is None else f"{cpu / 60:.1f}", kind_label(record_kind(record)))
            rows.append("| " + " | ".join(map(str, cells)) + " |")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", choices=list(PRESETS), required=True)
    parser.add_argument("--candidates", type=fast_candidate, nargs="+", default=[], metavar="ARCH:EPOCHS[:LR]")
    parser.add_argument("--profile", choices=list(PROFILES), default="full", help="smoke: check the script in seconds")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", help="data root (default $BANNET_DATA)")
    parser.add_argument("--out", type=Path, required=True, help="folder of the candidates' study folders")
    parser.add_argument("--table-only", action="store_true", help="print the table of what OUT holds, train nothing")
    args = parser.parse_args()
    base = get_preset(args.preset, args.profile)
    for arch, epochs, lr in [] if args.table_only else args.candidates:
        name = f"{base.name}-{arch}-{epochs}ep" + ("" if lr is None else f"-lr{lr:g}")
        preset = replace(base, name=name, teacher_arch=arch, student_arch=arch, epochs=epochs,
                         lr=base.lr if lr is None else lr,
                         description=f"pilot of {base.name}: {arch}, {epochs} epochs, teacher only")
        run_study(preset, [args.seed], args.out / preset.name, torch.device("cpu"), root=args.data, progress=False,
                  download=False, models=["teacher"])
    print(table(args.out))


if __name__ == "__main__":
    main()
