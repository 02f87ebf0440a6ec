"""Training speed of each study's recipe on this machine: images/s of a label step and of a BAN student step (the
teacher's forward included), and the wall time per model they imply, one run, with the compute kind named.

Each preset is timed as its study trains: its network, its recipe's optimiser and batch, the recipe's augmentation on
the device-resident split (DeviceLoader), the precision `auto` picks here. `--contiguous` times the same steps without
channels_last, `--batch-sizes` other batches, and `--compile` the same steps under torch.compile (a compiled model is
another compute kind: a seed's models are all compiled or none), to see what helps on each kind.

    python benchmarks/recipe_throughput.py --data DATA --out benchmarks/results/recipes-<kind>-<date>.txt
"""

import argparse
import datetime
import itertools
import time
from dataclasses import replace
from pathlib import Path

import torch
from torch import nn

from bannet.compute_kind import compute_kind, kind_label
from bannet.data import DeviceLoader, load_study_data
from bannet.formatting import table_rows
from bannet.losses import build_loss
from bannet.models import FIT_IMAGES, build, fit_to_training_images, needs_training_images
from bannet.precision import Precision, resolve_precision
from bannet.presets import PRESETS, Preset, get_preset
from bannet.provenance import git_commit
from bannet.recipes import Recipe, recipe_for
from bannet.train import TrainStep

CPU = torch.device("cpu")
DEFAULT_PRESETS = ["cifar10-wrn-28-1-11ep", "cifar10-airbench", "cifar100-airbench"]


def model_for(preset: Preset, recipe: Recipe, precision: Precision, images: torch.Tensor, seed: int) -> nn.Module:
    """A fresh seeded model of the preset's teacher architecture, in the memory format timed, fitted when it needs."""
    torch.manual_seed(seed)
    model = build(preset.teacher_arch, 100 if preset.dataset == "cifar100" else 10)
    if needs_training_images(model):
        fit_to_training_images(model, images[:FIT_IMAGES])
    return model.to(memory_format=torch.channels_last) if precision.channels_last else model


def images_per_second(preset: Preset, recipe: Recipe, precision: Precision, loader: DeviceLoader, loss: str,
                      steps: int, warmup: int) -> float:
    """Images/s of `steps` TrainSteps with `loss` after `warmup` untimed ones ("ban": with a teacher's forward)."""
    normalised = next(iter(DeviceLoader(loader.images, loader.labels, loader.spec, FIT_IMAGES, False)))[0]
    model = model_for(preset, recipe, precision, normalised, 0)
    teacher = model_for(preset, recipe, precision, normalised, 1) if loss == "ban" else None
    step = TrainStep(model, build_loss(loss), recipe.make_optimizer(model, CPU), recipe, CPU, teacher)
    for group in step.optimizer.param_groups:  # the schedule's first step, as training starts
        group["lr"] = group["base_lr"] * recipe.lr_factor(0, len(loader))
    batches = itertools.chain.from_iterable(itertools.repeat(loader))
    for _ in range(warmup):
        step(*next(batches))
    start = time.perf_counter()
    for _ in range(steps):
        step(*next(batches))
    return steps * recipe.batch_size / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", nargs="+", choices=list(PRESETS), default=DEFAULT_PRESETS)
    parser.add_argument("--data", help="data root (default $BANNET_DATA)")
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--batch-sizes", type=int, nargs="*", default=[], help="time these batches too")
    parser.add_argument("--contiguous", action="store_true", help="also time without channels_last")
    parser.add_argument("--compile", action="store_true", help="also time under torch.compile")
    parser.add_argument("--out", type=Path, help="also write the report here")
    args = parser.parse_args()
    auto = resolve_precision("auto", CPU)
    formats = [auto] + ([replace(auto, channels_last=False)] if args.contiguous and auto.channels_last else [])
    lines = [f"# recipe throughput, {datetime.date.today()}, commit {git_commit()}",
             f"# {kind_label(compute_kind(CPU, auto, False))}; {args.steps} timed steps after {args.warmup}"]
    header = ["preset", "network", "recipe", "batch", "memory format", "compiled", "label img/s", "BAN student img/s",
              "projected wall min per teacher", "per student"]
    rows: list[list[str]] = []
    print("\n".join([*lines, table_rows(header, rows)]), flush=True)
    for name in args.presets:
        preset = get_preset(name)
        data = load_study_data(preset, args.data, download=False)
        for batch, precision, compile in itertools.product([preset.batch_size, *args.batch_sizes], formats,
                                                           [False, True] if args.compile else [False]):
            recipe = recipe_for(replace(preset, batch_size=batch), "auto", compile)
            loader = DeviceLoader(data.train_images, data.train_labels, data.spec, batch, True,
                                  generator=torch.Generator().manual_seed(0), channels_last=precision.channels_last,
                                  augmentation=recipe.augmentation(data.spec))
            label, student = (images_per_second(preset, recipe, precision, loader, loss, args.steps, args.warmup)
                              for loss in ("ce", "ban"))
            images = preset.epochs * len(data.train_labels)
            rows.append([name, preset.teacher_arch, recipe.name, str(batch),
                         "channels_last" if precision.channels_last else "contiguous", "yes" if compile else "no",
                         f"{label:.0f}", f"{student:.0f}",
                         f"{images / label / 60:.1f}", f"{images / student / 60:.1f}"])
            print(table_rows(header, rows).splitlines()[-1], flush=True)
    if args.out:
        args.out.write_text("\n".join([*lines, table_rows(header, rows)]) + "\n")


if __name__ == "__main__":
    main()
