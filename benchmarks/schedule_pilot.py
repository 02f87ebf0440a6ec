"""Which model and schedule give the most accuracy per CPU-hour? Train candidates from labels, one seed each.

Each candidate is ARCH:EPOCHS, trained on the data of --preset (its data set, with --image-size as the cap on the
image side when given) with the preset's recipe compressed to EPOCHS (its batch and lr, ×0.2 at 30/60/80%).
Give candidates of about equal cost (epochs × seconds per epoch) and the lowest test error wins the budget;
the printout states each one's error, its training seconds and its seconds per epoch on this machine, which
also price a study's other models: a student's epoch costs about its own label epoch plus a third of its
teacher's (the teacher's forward pass).

    python benchmarks/schedule_pilot.py --preset cifar100-wrn-28-2 --compile \
        --candidates wrn-16-1:20 wrn-28-1:14 wrn-16-2:11 --out benchmarks/results/pilot-cifar100-<machine>-<date>.txt
    python benchmarks/schedule_pilot.py --preset imagewang-densenet121-resnet18 --image-size 64 --compile \
        --candidates resnet18:5 densenet121:5 --out benchmarks/results/pilot-imagewang-<machine>-<date>.txt
"""

import argparse
import datetime
from dataclasses import replace
from pathlib import Path

import torch
from label_training import train_from_labels

from bannet.data import load_study_data
from bannet.ensembles import among_labelled_classes, top1_error_pct
from bannet.models import build, count_parameters
from bannet.presets import PRESETS, get_preset
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
    parser.add_argument("--preset", required=True, choices=list(PRESETS),
                        help="the study whose data and recipe the candidates train with")
    parser.add_argument("--image-size", type=int, default=None, help="cap on the image side (default: the preset's)")
    parser.add_argument("--candidates", type=candidate, nargs="+", required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--compile", action="store_true", help="torch.compile the models, as `bannet run --compile`")
    parser.add_argument("--data", type=Path, default=None, help="data root (default $BANNET_DATA)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    if args.image_size is not None and args.image_size < 8:
        parser.error(f"--image-size {args.image_size}: give at least 8 pixels")
    device = torch.device("cpu")
    preset = get_preset(args.preset)
    preset = replace(preset, unlabelled=False, max_image_size=args.image_size or preset.max_image_size)
    data = load_study_data(preset, args.data, download=False)
    compiled = "on" if args.compile else "off"
    size = data.train_images.shape[-1]
    tested = len(data.test_labels.unique())
    # ImageWang tests 10 of its 20 classes: the error among those 10 reads apart from the prior learnt for the others
    among = f"among the {tested} test classes %" if tested < data.spec.num_classes else ""
    lines = [f"schedule pilot on {preset.dataset} at {size} px with the recipe of {preset.name}: label training, "
             f"--precision auto, compile {compiled}, batch {preset.batch_size}, lr {preset.lr:g}, seed {args.seed}",
             f"{device_name(device)} | torch {torch.__version__} | git {git_commit()} | "
             f"{datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds')}", "",
             f"{'model':<12}{'params':>12}{'epochs':>8}{'test error %':>14}{among:>{len(among) + 2}}{'train s':>9}"
             f"{'s/epoch':>9}"]
    print("\n".join(lines), flush=True)
    for arch, epochs in args.candidates:
        result = train_from_labels(arch, preset, data, epochs, args.seed, "auto", device, args.compile)
        params = count_parameters(build(arch, data.spec.num_classes))
        restricted = top1_error_pct(among_labelled_classes(result.test_logits, result.test_labels),
                                    result.test_labels)
        shown = f"{restricted:>{len(among) + 2}.2f}" if among else ""
        lines.append(f"{arch:<12}{params:>12,}{epochs:>8}{100 * (1 - result.test_accuracy):>14.2f}{shown}"
                     f"{result.wall_time_s:>9.0f}{result.wall_time_s / epochs:>9.1f}")
        print(lines[-1], flush=True)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
