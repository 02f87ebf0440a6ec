"""Is bf16 autocast the same training as fp32? A short CIFAR-10 run of a small WRN in both precisions, seed by seed.

Same seeds, same data order and augmentation, same schedule; only the precision differs. If bf16 changes the
training, its test error moves away from fp32's by more than two seeds of one precision differ from each other.

    python benchmarks/precision_agreement.py --data ROOT --out benchmarks/results/precision-<machine>-<date>.txt
"""

import argparse
import datetime
import time
from pathlib import Path

import torch

from bannet.data import DATASETS, DeviceLoader, load_split
from bannet.losses import build_loss
from bannet.models import build
from bannet.precision import resolve_precision
from bannet.provenance import device_name, git_commit
from bannet.train import TrainConfig, prepare_model, train_model

CIFAR = DATASETS["cifar10"]


def train_once(arch: str, precision: str, seed: int, epochs: int, data: tuple, device: torch.device) -> tuple[float, float]:
    """(test error %, seconds) of `arch` trained from labels for `epochs` epochs in `precision`, seeded `seed`."""
    config = TrainConfig(epochs=epochs, precision=precision)
    channels_last = resolve_precision(precision, device).channels_last
    train_images, train_labels, test_images, test_labels = data
    loader = lambda x, y, train: DeviceLoader(x, y, CIFAR, config.batch_size, train, device, channels_last=channels_last,
                                              generator=torch.Generator().manual_seed(seed))
    torch.manual_seed(seed)
    model = prepare_model(build(arch, CIFAR.num_classes), device, config)
    result = train_model(model, build_loss("ce"), loader(train_images, train_labels, True),
                         loader(test_images, test_labels, False), config, device, progress=False)
    return 100 * (1 - result.test_accuracy), result.wall_time_s


def main() -> None:
    """Train every (seed, precision) pair, print the table and the verdict, and write them to --out."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=None, help="data root holding CIFAR-10 (default $BANNET_DATA)")
    parser.add_argument("--arch", default="wrn-16-1")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    device = torch.device("cpu")
    data = (*load_split("cifar10", True, args.data, download=False), *load_split("cifar10", False, args.data,
                                                                                 download=False))
    lines = [f"bf16 autocast against fp32: {args.arch} on CIFAR-10 from labels, {args.epochs} epochs "
             f"(lr 0.1, x0.2 at 30/60/80%), batch 128, seeds {args.seeds}",
             f"{device_name(device)} | torch {torch.__version__} | git {git_commit()} | "
             f"{datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds')}",
             "", f"{'seed':>4} {'fp32 error %':>13} {'bf16 error %':>13} {'bf16 - fp32':>12} {'fp32 s':>8} {'bf16 s':>8}"]
    print("\n".join(lines), flush=True)
    errors: dict[str, list[float]] = {"fp32": [], "bf16": []}
    for seed in args.seeds:
        row = {}
        for precision in ("fp32", "bf16"):
            row[precision] = train_once(args.arch, precision, seed, args.epochs, data, device)
            errors[precision].append(row[precision][0])
        line = (f"{seed:>4} {row['fp32'][0]:>13.2f} {row['bf16'][0]:>13.2f} {row['bf16'][0] - row['fp32'][0]:>+12.2f} "
                f"{row['fp32'][1]:>8.0f} {row['bf16'][1]:>8.0f}")
        lines.append(line)
        print(line, flush=True)
    precision_gap = max(abs(b - f) for f, b in zip(errors["fp32"], errors["bf16"]))
    seed_gap = min(max(e) - min(e) for e in errors.values())
    lines += ["", f"largest |bf16 - fp32| of one seed: {precision_gap:.2f} points; smallest spread between seeds of one "
                  f"precision: {seed_gap:.2f} points",
              "verdict: " + ("within seed noise" if precision_gap <= seed_gap else
                             "bf16 differs from fp32 by more than two seeds differ")]
    print("\n".join(lines[-3:]))
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
