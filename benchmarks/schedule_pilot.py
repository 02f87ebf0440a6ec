"""Which model and schedule give the most accuracy per CPU-hour? Train candidates from labels, one seed each.

Each candidate is ARCH:EPOCHS, trained with the book's recipe compressed to EPOCHS (lr 0.1 ×0.2 at 30/60/80%).
Give candidates of about equal cost (epochs × seconds per epoch) and the lowest test error wins the budget;
the printout states each one's error, its training seconds and its seconds per epoch on this machine.

    python benchmarks/schedule_pilot.py --dataset cifar100 --compile --candidates wrn-16-1:20 wrn-28-1:14 wrn-16-2:11 \
        --out benchmarks/results/pilot-cifar100-<machine>-<date>.txt
"""

import argparse
import datetime
from pathlib import Path

import torch
from label_training import train_from_labels

from bannet.data import load_split
from bannet.models import build, count_parameters
from bannet.provenance import device_name, git_commit


def candidate(text: str) -> tuple[str, int]:
    """ARCH:EPOCHS as (arch, epochs); argparse reports a malformed one."""
    arch, _, epochs = text.partition(":")
    build(arch, 10)  # an unknown architecture fails here, before any training
    if not epochs.isdigit() or int(epochs) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: give ARCH:EPOCHS with EPOCHS >= 1")
    return arch, int(epochs)


def main() -> None:
    """Train each candidate, print its line as it finishes, and write the report to --out."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default="cifar100", choices=["cifar10", "cifar100"])
    parser.add_argument("--candidates", type=candidate, nargs="+", required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--compile", action="store_true", help="torch.compile the models, as `bannet run --compile`")
    parser.add_argument("--data", type=Path, default=None, help="data root (default $BANNET_DATA)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    device = torch.device("cpu")
    data = (*load_split(args.dataset, True, args.data, download=False),
            *load_split(args.dataset, False, args.data, download=False))
    classes = 100 if args.dataset == "cifar100" else 10
    compiled = "on" if args.compile else "off"
    lines = [f"schedule pilot on {args.dataset}: label training, --precision auto, compile {compiled}, "
             f"batch 128, seed {args.seed}",
             f"{device_name(device)} | torch {torch.__version__} | git {git_commit()} | "
             f"{datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds')}", "",
             f"{'model':<12}{'params':>10}{'epochs':>8}{'test error %':>14}{'train s':>9}{'s/epoch':>9}"]
    print("\n".join(lines), flush=True)
    for arch, epochs in args.candidates:
        result = train_from_labels(arch, args.dataset, data, epochs, args.seed, "auto", device, args.compile)
        params = count_parameters(build(arch, classes))
        lines.append(f"{arch:<12}{params:>10,}{epochs:>8}{100 * (1 - result.test_accuracy):>14.2f}"
                     f"{result.wall_time_s:>9.0f}{result.wall_time_s / epochs:>9.1f}")
        print(lines[-1], flush=True)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
