"""Is bf16 autocast the same training as fp32? A short CIFAR-10 run of a small WRN in both precisions, seed by seed.

Same seeds, same data order and augmentation, same schedule; only the precision differs. The two runs of a seed
part ways from the first rounding on, so one seed's difference is as noisy as two seeds'; what bf16 would change
shows as a paired mean difference whose 95% interval excludes 0.

    python benchmarks/precision_agreement.py --data ROOT --out benchmarks/results/precision-<machine>-<date>.txt
"""

import argparse
import datetime
import statistics
from pathlib import Path

import torch
from label_training import train_from_labels

from bannet.data import load_study_data
from bannet.presets import get_preset
from bannet.provenance import device_name, git_commit
from bannet.stats import mean_ci


def summary(errors: dict[str, list[float]]) -> list[str]:
    """Mean ± 95% CI per precision, the seed-to-seed SD, and the paired bf16 − fp32 difference with the verdict."""
    lines = []
    for precision, values in errors.items():
        mean, ci = mean_ci(values)
        spread = statistics.stdev(values)
        lines.append(f"{precision}: {mean:.2f} ± {ci:.2f} % (mean ± 95% CI), seed-to-seed SD {spread:.2f}")
    differences = [b - f for f, b in zip(errors["fp32"], errors["bf16"])]
    mean, ci = mean_ci(differences)
    lines.append(f"bf16 - fp32, paired by seed: {mean:+.2f} ± {ci:.2f} points (SD {statistics.stdev(differences):.2f})")
    covers = mean - ci <= 0 <= mean + ci
    lines.append("verdict: " + ("the interval covers 0: within seed noise, the data cannot tell bf16 from fp32"
                                if covers else "the interval excludes 0: bf16 trains differently from fp32"))
    return lines


def main() -> None:
    """Train every (seed, precision) pair, print the table and the verdict, and write them to --out."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=None, help="data root holding CIFAR-10 (default $BANNET_DATA)")
    parser.add_argument("--arch", default="wrn-16-1")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3])
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    if len(args.seeds) < 2:
        parser.error("give at least two seeds: seed noise needs them")
    device = torch.device("cpu")
    preset = get_preset("cifar10-wrn-28-1")  # CIFAR-10 with the wide-ResNet recipe, batch 128
    data = load_study_data(preset, args.data, download=False)
    lines = [f"bf16 autocast against fp32: {args.arch} on CIFAR-10 from labels, {args.epochs} epochs "
             f"(lr 0.1, x0.2 at 30/60/80%), batch 128, seeds {args.seeds}",
             f"{device_name(device)} | torch {torch.__version__} | git {git_commit()} | "
             f"{datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds')}",
             "", f"{'seed':>4} {'fp32 error %':>13} {'bf16 error %':>13} {'bf16 - fp32':>12}"]
    print("\n".join(lines), flush=True)
    errors: dict[str, list[float]] = {"fp32": [], "bf16": []}
    for seed in args.seeds:
        for precision in errors:
            result = train_from_labels(args.arch, preset, data, args.epochs, seed, precision, device)
            errors[precision].append(100 * (1 - result.test_accuracy))
        fp32, bf16 = errors["fp32"][-1], errors["bf16"][-1]
        lines.append(f"{seed:>4} {fp32:>13.2f} {bf16:>13.2f} {bf16 - fp32:>+12.2f}")
        print(lines[-1], flush=True)
    lines += ["", *summary(errors)]
    print("\n".join(lines[-5:]))
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
