"""Training throughput: the plain PyTorch loop (a) against bannet's trainer (b), and the losses.

(a) is the loop every BAN repository uses, taken from bannet.reference: a torchvision Dataset + PIL transforms
(CIFAR: RandomCrop(32, 4) + RandomHorizontalFlip; ResNet-18 at 64 px: RandomResizedCrop(64) + flip) + ToTensor +
Normalize, a DataLoader with worker processes, fp32, an autograd loss, torch's default SGD.
(b) is bannet's own code: the split resident on the device (DeviceLoader, augmentation on the device) and
TrainStep (--precision auto: bf16 autocast and channels_last on GPUs and on CPUs with bf16 matrix instructions,
fused or foreach SGD, explicit-backward loss, teacher forward in inference mode, no host synchronisation inside
the step). Each is timed for a label step ("ce") and a BAN student step ("ban", the teacher's forward
included). Then every bannet loss's forward+backward is timed against its autograd reference (bannet.reference).

    python benchmarks/train_throughput.py --data ROOT --out benchmarks/results/<gpu>-<date>.txt
"""

import argparse
import datetime
import itertools
import multiprocessing.queues
import multiprocessing.synchronize
import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from torch import Tensor, nn
from torch.utils.benchmark import Timer
from torch.utils.data import Dataset

from bannet.data import DATASETS, DatasetSpec, DeviceLoader, data_root, load_split, spec_transform, torchvision_dataset
from bannet.losses import build_loss, value_checks
from bannet.models import build
from bannet.precision import PRECISIONS, resolve_precision
from bannet.provenance import device_name, git_commit
from bannet.recipes import StepRecipe
from bannet.reference import PixelDataset, PlainStep, plain_loader, reference_loss
from bannet.train import TrainStep, prepare_model

CIFAR = DATASETS["cifar10"]
SMALL_IMAGEWANG = replace(DATASETS["imagewang"], image_size=64)  # ResNet-18's laptop-scale input
INPUTS = {"resnet18": SMALL_IMAGEWANG}  # every other model trains on CIFAR-10
MODELS = ["wrn-28-1", "wrn-16-2", "resnet18"]
LOSSES = ["ce", "ban", "ban+l", "cwtm", "dkpp", "ls"]
LS_MASS = 0.1  # the label-smoothing control's wrong-class mass in the timings and references
LOSS_KWARGS = {"dkpp": {"seed": 0}, "ls": {"mass": LS_MASS}}  # for bannet's loss and its reference alike
LOSS_SHAPES = [(128, 10), (128, 100)]
RANDOM_SPLIT_SIZE = 50_000
SMALL_IMAGEWANG_SIZE = 10_000
SPEEDUP_TARGET = {"cuda": ("wrn-28-1", 4.0), "cpu": ("wrn-28-1", 2.5)}
STUDENT_TARGET = 1.35
LOSS_TARGET = 1.1


# ---- timing ---------------------------------------------------------------------------------------

def synchronize(device: torch.device) -> None:
    """Wait for the device's queued work (CUDA); nothing on the CPU."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def endless(loader: Iterable) -> Iterator:
    """The loader's batches, epoch after epoch."""
    return itertools.chain.from_iterable(itertools.repeat(loader))


def images_per_second(step: Callable[[Tensor, Tensor], object], batches: Iterator, steps: int, warmup: int,
                      device: torch.device) -> float:
    """Images per second over `steps` steps after `warmup` untimed ones; the device is synchronised at the ends only."""
    for _ in range(warmup):
        step(*next(batches))
    synchronize(device)
    start, images = time.perf_counter(), 0
    for _ in range(steps):
        x, y = next(batches)
        step(x, y)
        images += y.shape[0]
    synchronize(device)
    return images / (time.perf_counter() - start)


def fresh_model(name: str, seed: int) -> nn.Module:
    """A freshly initialised model for its input (CIFAR-10, or 64-px ImageWang for ResNet-18), seeded."""
    torch.manual_seed(seed)
    return build(name, INPUTS.get(name, CIFAR).num_classes)


def plain_throughput(name: str, batches: Iterator, config: StepRecipe, device: torch.device,
                     args: argparse.Namespace) -> tuple[float, float]:
    """(label, student) images/s of the plain loop, with torch's default cuDNN settings whatever bannet set."""
    label = PlainStep(fresh_model(name, 0), config, device)
    student = PlainStep(fresh_model(name, 0), config, device, teacher=fresh_model(name, 1), loss="ban")
    with torch.backends.cudnn.flags(enabled=True, benchmark=False):
        return tuple(images_per_second(step, batches, args.steps, args.warmup, device) for step in (label, student))


def bannet_step(name: str, loss: str, config: StepRecipe, device: torch.device, seed: int = 0) -> TrainStep:
    """bannet's TrainStep for a fresh seeded model `name` with `loss`; "ban" gets a fresh same-architecture teacher."""
    teacher = prepare_model(fresh_model(name, seed + 1), device, config) if loss == "ban" else None
    model = prepare_model(fresh_model(name, seed), device, config)
    return TrainStep(model, build_loss(loss), config.make_optimizer(model, device), config, device, teacher)


def fast_loader(images: Tensor, labels: Tensor, config: StepRecipe, device: torch.device,
                seed: int = 0, spec: DatasetSpec = CIFAR) -> DeviceLoader:
    """bannet's device-resident training loader of the split, in the memory format the trainer uses."""
    return DeviceLoader(images, labels, spec, config.batch_size, train=True, device=device,
                        generator=torch.Generator().manual_seed(seed),
                        channels_last=resolve_precision(config.precision, device).channels_last)


def bannet_throughput(name: str, batches: Iterator, config: StepRecipe, device: torch.device,
                      args: argparse.Namespace) -> tuple[float, float]:
    """(label, student) images/s of bannet's TrainStep, with the trainer's value-check setting."""
    rates = []
    for loss in ("ce", "ban"):
        step = bannet_step(name, loss, config, device)
        with value_checks(device.type != "cuda"):
            rates.append(images_per_second(step, batches, args.steps, args.warmup, device))
    return tuple(rates)


def shared_worker(seed: int, name: str, images: Tensor, labels: Tensor, config: StepRecipe, device: torch.device,
                  steps: int, warmup: int, barrier: multiprocessing.synchronize.Barrier,
                  results: multiprocessing.queues.Queue) -> None:
    """One of several processes sharing the device: bannet's label step on its own seed; puts (images, start, end)."""
    batches = endless(fast_loader(images, labels, config, device, seed))
    step = bannet_step(name, "ce", config, device, seed)
    with value_checks(device.type != "cuda"):
        for _ in range(warmup):
            step(*next(batches))
        synchronize(device)
        barrier.wait(timeout=900)
        start = time.perf_counter()
        for _ in range(steps):
            step(*next(batches))
        synchronize(device)
    results.put((steps * config.batch_size, start, time.perf_counter()))


def shared_throughput(name: str, processes: int, images: Tensor, labels: Tensor, config: StepRecipe,
                      device: torch.device, args: argparse.Namespace) -> float:
    """Total images/s of `processes` concurrent processes (one seed each) training `name` on the one device."""
    context = torch.multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(processes), context.Queue()
    workers = [context.Process(target=shared_worker, args=(seed, name, images, labels, config, device, args.steps,
                                                           args.warmup, barrier, results))
               for seed in range(processes)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    failed = [w.exitcode for w in workers if w.exitcode != 0]
    if failed:
        raise RuntimeError(f"{len(failed)} of {processes} shared-device workers failed (exit codes {failed})")
    counts, starts, ends = zip(*(results.get(timeout=60) for _ in workers))
    return sum(counts) / (max(ends) - min(starts))


def loss_times(name: str, batch: int, classes: int, device: torch.device) -> tuple[float, float]:
    """Median seconds of forward+backward of bannet's loss and of its autograd reference, checked equal first."""
    generator = torch.Generator().manual_seed(0)
    z = torch.randn(batch, classes, generator=generator).to(device).requires_grad_()
    t = (3 * torch.randn(batch, classes, generator=generator)).to(device)
    y = torch.randint(0, classes, (batch,), generator=generator).to(device)
    options = LOSS_KWARGS.get(name, {})
    candidates = {"explicit": build_loss(name, **options), "autograd": reference_loss(name, **options)}
    values, grads = [], []
    for loss in candidates.values():
        z.grad = None
        value = loss(z, t, y)
        value.backward()
        values.append(value.detach())
        grads.append(z.grad.clone())
    torch.testing.assert_close(values[0], values[1], rtol=1e-4, atol=1e-5, msg=f"{name}: loss differs")
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-4, atol=1e-6, msg=f"{name}: gradient differs")

    def forward_backward(loss: Callable) -> None:
        z.grad = None
        loss(z, t, y).backward()

    medians = []
    for loss in candidates.values():
        timer = Timer("forward_backward(loss)", globals={"forward_backward": forward_backward, "loss": loss})
        medians.append(timer.blocked_autorange(min_run_time=0.5).median)
    return tuple(medians)


# ---- data and report ------------------------------------------------------------------------------

@dataclass
class Workload:
    """One input of the benchmark: the plain path's Dataset, the same pixels as uint8 tensors, and their spec."""

    dataset: Dataset
    images: Tensor
    labels: Tensor
    spec: DatasetSpec
    description: str


def random_pixels(spec: DatasetSpec, n: int) -> tuple[Tensor, Tensor]:
    """n seeded random uint8 images and labels of the spec's shape."""
    generator = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (n, spec.channels, spec.image_size, spec.image_size), generator=generator,
                           dtype=torch.uint8)
    return images, torch.randint(0, spec.num_classes, (n,), generator=generator)


def training_data(root: Path) -> Workload:
    """CIFAR-10's training split (random tensors of its shape without it), read by the plain path as torchvision."""
    if (root / "cifar-10-batches-py").is_dir():
        images, labels = load_split("cifar10", train=True, root=root, download=False)
        dataset = torchvision_dataset("cifar10", True, root, download=False, transform=spec_transform(CIFAR, True))
        return Workload(dataset, images, labels, CIFAR, "CIFAR-10 training split (real)")
    images, labels = random_pixels(CIFAR, RANDOM_SPLIT_SIZE)
    return Workload(PixelDataset(images, labels, spec_transform(CIFAR, True)), images, labels, CIFAR,
                    "random tensors shaped like CIFAR-10 (no cifar-10-batches-py under the data root)")


def small_imagewang_data() -> Workload:
    """Random 64-px images of ImageWang's 20 classes; both paths start from decoded pixels (a JPEG decode would
    only slow the plain path further)."""
    images, labels = random_pixels(SMALL_IMAGEWANG, SMALL_IMAGEWANG_SIZE)
    return Workload(PixelDataset(images, labels, spec_transform(SMALL_IMAGEWANG, True)), images, labels,
                    SMALL_IMAGEWANG, "random decoded 64-px images of 20 classes, RandomResizedCrop(64) + flip")


class Report:
    """Lines printed as they come and kept for --out."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def __call__(self, line: str = "") -> None:
        """Print one line and keep it."""
        print(line, flush=True)
        self.lines.append(line)

    def save(self, path: Path) -> None:
        """Write every line to path (its folder is created)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(self.lines) + "\n")


def target_lines(speedups: dict[str, float], student_costs: dict[str, float], loss_ratios: list[float],
                 device: torch.device) -> list[str]:
    """The project's targets for this kind of device against this run's numbers, one line each."""
    def line(what: str, bound: str, value: float, met: bool) -> str:
        return f"  {what:<52}{bound:>8}{value:>8.2f}  {'met' if met else 'NOT met'}"

    lines = [f"targets ({'GPU' if device.type == 'cuda' else 'CPU'}; this run: {device_name(device)}):"]
    model, speedup = SPEEDUP_TARGET[device.type]
    if model in speedups:
        lines.append(line(f"(b)/(a) label step, {model}", f">= {speedup:.2f}", speedups[model],
                          speedups[model] >= speedup))
    if student_costs:
        worst = max(student_costs.values())
        lines.append(line("student/label step time of (b), worst model", f"<= {STUDENT_TARGET:.2f}", worst,
                          worst <= STUDENT_TARGET))
    if loss_ratios:
        worst = max(loss_ratios)
        lines.append(line("explicit/autograd loss time, worst loss and shape", f"<= {LOSS_TARGET:.2f}", worst,
                          worst <= LOSS_TARGET))
    return lines


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=None, help="data root (default: $BANNET_DATA, else ./data)")
    parser.add_argument("--models", nargs="+", default=MODELS)
    parser.add_argument("--steps", type=int, default=200,
                        help="timed steps per measurement (well beyond the 2 × workers batches (a) prefetches)")
    parser.add_argument("--warmup", type=int, default=20, help="untimed steps before each measurement")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--device", default="auto", help="auto (cuda when available), cuda, cuda:1, cpu")
    parser.add_argument("--compile", action="store_true", help="torch.compile the student in (b)")
    parser.add_argument("--precision", choices=PRECISIONS, default="auto", help="(b)'s precision, as bannet run's")
    parser.add_argument("--workers", type=int, default=os.cpu_count(), help="DataLoader workers of (a)")
    parser.add_argument("--share", type=int, nargs="*", default=[],
                        help="also time K processes training the first model at once on the device, for each K given")
    parser.add_argument("--skip-losses", action="store_true", help="do not time the losses")
    parser.add_argument("--out", type=Path, default=None, help="also write the report to this file")
    args = parser.parse_args(argv)
    if args.share and args.models[0] in INPUTS:
        parser.error(f"--share times the first model on CIFAR-10: put a CIFAR model first, not {args.models[0]}")
    if args.steps < 1 or args.warmup < 1:
        parser.error(f"--steps and --warmup must be >= 1 (warm-up also absorbs compilation), got "
                     f"{args.steps} and {args.warmup}")
    return args


def report_header(report: Report, args: argparse.Namespace, config: StepRecipe, device: torch.device,
                  workloads: dict[str, Workload]) -> None:
    """Where, when, on what and how the numbers were taken."""
    fast = device.type == "cuda"
    precision = resolve_precision(config.precision, device)
    report("bannet training throughput: the plain PyTorch loop (a) against bannet's trainer (b)")
    report(f"device {device_name(device)} | torch {torch.__version__} | CPU capability "
           f"{torch.backends.cpu.get_cpu_capability()} | {os.cpu_count()} CPUs | "
           f"{datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds')} | git {git_commit()}")
    for name in args.models:
        report(f"data of {name}: {workloads[name].description}")
    report(f"batch {args.batch_size}, {args.steps} timed steps after {args.warmup} warm-up steps per measurement")
    report(f"(a) torchvision Dataset + PIL augmentation + ToTensor + Normalize, DataLoader with "
           f"{args.workers} workers{', pinned' if fast else ''}; fp32; autograd loss; torch.optim.SGD (default)")
    on = {True: "on", False: "off"}
    report(f"(b) bannet DeviceLoader (augmentation on the device) + TrainStep; --precision {config.precision}: "
           f"{precision.to_dict()['compute']}, {precision.to_dict()['memory_format']}; "
           f"{'fused' if fast else 'foreach'} SGD, explicit-backward loss, compile {on[config.compile]}")
    report("label step = ce; student step = ban with a same-architecture teacher, its forward included")


def report_training(report: Report, args: argparse.Namespace, config: StepRecipe, device: torch.device,
                    workloads: dict[str, Workload]) -> tuple[dict[str, float], dict[str, float]]:
    """The (a)/(b) table; returns the label-step speedups b/a and (b)'s student/label time ratios per model."""
    columns = ("model", "(a) label", "(b) label", "b/a", "(a) student", "(b) student", "b/a",
               "student/label time (a)", "(b)")
    report("{:<16}{:>11}{:>11}{:>7}{:>13}{:>13}{:>7}{:>24}{:>7}".format(*columns) + "   [images/s]")
    speedups, student_costs = {}, {}
    for name in args.models:
        data = workloads[name]
        plain_batches = endless(plain_loader(data.dataset, args.batch_size, args.workers, device))
        fast_batches = endless(fast_loader(data.images, data.labels, config, device, spec=data.spec))
        a_label, a_student = plain_throughput(name, plain_batches, config, device, args)
        b_label, b_student = bannet_throughput(name, fast_batches, config, device, args)
        speedups[name], student_costs[name] = b_label / a_label, b_label / b_student
        report(f"{name:<16}{a_label:>11.0f}{b_label:>11.0f}{b_label / a_label:>7.2f}{a_student:>13.0f}"
               f"{b_student:>13.0f}{b_student / a_student:>7.2f}{a_label / a_student:>24.2f}"
               f"{b_label / b_student:>7.2f}")
    return speedups, student_costs


def report_losses(report: Report, device: torch.device) -> list[float]:
    """The loss table; returns every explicit/autograd time ratio."""
    report("loss forward+backward, median µs (torch.utils.benchmark.Timer, 1 thread on a CPU); "
           "bannet's value checks off, as in the trainer on CUDA")
    report("{:<8}{:>12}{:>11}{:>11}{:>20}".format("loss", "batch×cls", "explicit", "autograd", "explicit/autograd"))
    ratios = []
    for name in LOSSES:
        for batch, classes in LOSS_SHAPES:
            with value_checks(False):
                explicit, autograd = loss_times(name, batch, classes, device)
            ratios.append(explicit / autograd)
            report("{:<8}{:>12}{:>11.1f}{:>11.1f}{:>20.2f}".format(
                name, f"{batch}×{classes}", explicit * 1e6, autograd * 1e6, explicit / autograd))
    return ratios


def report_sharing(report: Report, args: argparse.Namespace, config: StepRecipe, device: torch.device,
                   images: Tensor, labels: Tensor) -> None:
    """The table of K concurrent processes (one seed each) training the first model on the one device."""
    report(f"one device shared by concurrent processes: bannet's label step, {args.models[0]}, one seed each")
    report("{:<11}{:>16}{:>15}{:>26}".format("processes", "total images/s", "per process",
                                              f"total vs {args.share[0]} process(es)"))
    first = None
    for processes in args.share:
        total = shared_throughput(args.models[0], processes, images, labels, config, device, args)
        first = first or total
        report(f"{processes:<11}{total:>16.0f}{total / processes:>15.0f}{total / first:>26.2f}")


def main(argv: list[str] | None = None) -> None:
    """Measure, print the report and write it to --out."""
    args = parse_args(argv)
    device = torch.device(("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device)
    config = StepRecipe(epochs=1, batch_size=args.batch_size, compile=args.compile, precision=args.precision)
    cifar = training_data(data_root(args.data))
    workloads = {name: small_imagewang_data() if INPUTS.get(name) is SMALL_IMAGEWANG else cifar
                 for name in args.models}
    report = Report()
    report_header(report, args, config, device, workloads)
    report()
    speedups, student_costs = report_training(report, args, config, device, workloads)
    loss_ratios = []
    if not args.skip_losses:
        report()
        loss_ratios = report_losses(report, device)
    if args.share:
        report()
        report_sharing(report, args, config, device, cifar.images, cifar.labels)
    report()
    for line in target_lines(speedups, student_costs, loss_ratios, device):
        report(line)
    if args.out is not None:
        report.save(args.out)


if __name__ == "__main__":
    main()
