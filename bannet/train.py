"""The trainer: one model, from labels or a teacher's outputs, by a recipe (bannet.recipes), step by step."""

import math
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn
from tqdm.auto import tqdm

from bannet import distributed
from bannet.compute_kind import compute_kind
from bannet.errors import Diverged
from bannet.losses import DistillationLoss, NonFiniteValues, ban_loss, value_checks
from bannet.precision import Precision, resolve_precision
from bannet.recipes import Recipe
from bannet.training_state import load_training_state, save_training_state


@dataclass
class EpochMetrics:
    """What one epoch measured (lr: the first parameter group's learning rate at the epoch's first step)."""

    epoch: int
    lr: float
    train_loss: float
    train_acc: float
    test_loss: float
    test_acc: float
    seconds: float


@dataclass
class TrainResult:
    """A trained model's history, its final test-set outputs, and its training seconds over every resumed run: wall
    time, and the process's CPU time over all its threads (None when a resumed state predates its recording)."""

    history: list[EpochMetrics] = field(default_factory=list)
    test_logits: torch.Tensor | None = None
    test_labels: torch.Tensor | None = None
    wall_time_s: float = 0.0
    cpu_time_s: float | None = 0.0

    @property
    def test_accuracy(self) -> float:
        """Final test accuracy in [0, 1]."""
        return self.history[-1].test_acc


def prepare_model(model: nn.Module, device: torch.device, config: Recipe) -> nn.Module:
    """Move to the device in the precision's memory format; on CUDA cuDNN picks its fastest kernels for fixed shapes."""
    model = model.to(device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    if resolve_precision(config.precision, device).channels_last:
        model = model.to(memory_format=torch.channels_last)
    return model


@torch.no_grad()
def evaluate(model: nn.Module, loader: Iterable, device: torch.device,
             config: Recipe) -> tuple[float, float, torch.Tensor, torch.Tensor]:
    """(mean cross-entropy, accuracy, fp32 logits on CPU, labels on CPU) over a loader."""
    model.eval()
    outputs, targets = [], []
    with resolve_precision(config.precision, device).autocast(device):
        for x, y in loader:
            outputs.append(model(x).float())
            targets.append(y)
    logits, labels = torch.cat(outputs), torch.cat(targets)
    loss = nn.functional.cross_entropy(logits, labels).item()
    accuracy = (logits.argmax(1) == labels).float().mean().item()
    return loss, accuracy, logits.cpu(), labels.cpu()


@torch.no_grad()
def tta_probabilities(model: nn.Module, loader: Iterable, device: torch.device, config: Recipe) -> torch.Tensor:
    """Test-time augmentation: the mean over the plain view and config.tta_views ("flip": mirrored) of the softmax,
    (N, classes) fp32 on CPU."""
    model.eval()
    views = {"flip": lambda x: x.flip(-1)}
    outputs = []
    with resolve_precision(config.precision, device).autocast(device):
        for x, _ in loader:
            probabilities = [model(x).float().softmax(1)] + [model(views[v](x)).float().softmax(1)
                                                             for v in config.tta_views]
            outputs.append(torch.stack(probabilities).mean(0))
    return torch.cat(outputs).cpu()


def evaluate_on_main(model: nn.Module, loader: Iterable, device: torch.device,
                     config: Recipe) -> tuple[float, float, torch.Tensor | None, torch.Tensor | None]:
    """evaluate() on rank 0 over the whole loader; every rank gets its loss and accuracy, only rank 0 the logits."""
    outputs: list[torch.Tensor | None] = [None, None]

    def on_main() -> tuple[float, float]:  # inside from_main, so an error here reaches every rank
        loss, accuracy, outputs[0], outputs[1] = evaluate(model, loader, device, config)
        return loss, accuracy

    return (*distributed.from_main(on_main), *outputs)


def _summed_over_ranks(loss_sum: torch.Tensor, correct: torch.Tensor, seen: int) -> tuple[float, float, int]:
    """(Σ loss·batch, Σ correct, Σ examples) of an epoch over all ranks: one all-reduce under DDP."""
    if distributed.world_size() == 1:
        return loss_sum.item(), correct.item(), seen
    count = torch.tensor(seen, dtype=torch.float64, device=loss_sum.device)
    totals = torch.stack([loss_sum.double(), correct.double(), count])
    loss_total, correct_total, seen_total = distributed.all_reduce_sum(totals).tolist()
    return loss_total, correct_total, int(seen_total)


class TrainStep:
    """One optimisation step: teacher forward without gradient, student forward, loss, backward, SGD update.

    With a batch x_u of unlabelled images beside the labelled batch (x, y), the step minimises
    L = loss_fn(z, t, y) + L_ban(z_u, t_u): the BAN teacher loss on the teacher's outputs t_u for x_u
    (their labels are never known). Student and teacher each see [x; x_u] in one forward pass, so
    the student's BatchNorm statistics span both halves.
    """

    def __init__(self, model: nn.Module, loss_fn: DistillationLoss, optimizer: torch.optim.Optimizer,
                 config: Recipe, device: torch.device, teacher: nn.Module | None = None) -> None:
        if loss_fn.needs_teacher and teacher is None:
            raise ValueError(f"loss {type(loss_fn).__name__} needs a teacher, but teacher=None")
        if teacher is not None and teacher is model:
            raise ValueError("the teacher must be a separate model, not the student itself")
        if teacher is not None:
            teacher.eval().requires_grad_(False)
        self.model, self.loss_fn, self.optimizer, self.teacher = model, loss_fn, optimizer, teacher
        self.config, self.device = config, device
        self.lookahead = config.lookahead(model)
        self.precision: Precision = resolve_precision(config.precision, device)
        parallel = distributed.wrap_ddp(model, device)
        self.forward = torch.compile(parallel) if config.compile else parallel
        self.teacher_forward = torch.compile(teacher) if config.compile and teacher is not None else teacher

    def __call__(self, x: torch.Tensor, y: torch.Tensor,
                 x_unlabelled: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Update the model on one batch (and an unlabelled one); returns (detached loss, detached logits of x)."""
        if x_unlabelled is not None and self.teacher is None:
            raise ValueError("unlabelled images are learnt from the teacher's outputs, but teacher=None")
        inputs = x if x_unlabelled is None else torch.cat([x, x_unlabelled])
        with self.precision.autocast(self.device):
            teacher_logits = None
            if self.teacher is not None:
                with torch.inference_mode():
                    teacher_logits = self.teacher_forward(inputs).float()
                teacher_logits = teacher_logits.clone()  # an ordinary tensor the loss may save for backward
            logits = self.forward(inputs).float()
        n = x.shape[0]
        loss = self.loss_fn(logits[:n], None if teacher_logits is None else teacher_logits[:n], y)
        if x_unlabelled is not None:
            loss = loss + ban_loss(logits[n:], teacher_logits[n:])
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return loss.detach(), logits[:n].detach()


def train_model(model: nn.Module, loss_fn: DistillationLoss, train_loader: Iterable, test_loader: Iterable,
                config: Recipe, device: torch.device, teacher: nn.Module | None = None,
                progress: bool = True, desc: str = "train",
                on_epoch: Callable[[EpochMetrics], None] | None = None,
                unlabelled: Iterator[torch.Tensor] | None = None, state_file: Path | None = None) -> TrainResult:
    """Train `model` by the recipe `config` with `loss_fn(student_logits, teacher_logits, labels)`; metrics leave the
    device once per epoch.

    `unlabelled`, an endless iterator of image batches, adds L_ban(z_u, t_u) on the next of its batches
    to every labelled step (see TrainStep); the labelled loader alone defines the epoch.

    `state_file`: the training state is saved there at the end of every epoch (before `on_epoch` is called), and
    a run that finds one continues after its last finished epoch, bit-identical at a fixed thread count (the
    loaders' generators are restored, so pass DeviceLoaders or objects with state_dict()). One process only:
    under torchrun a model restarts from its first epoch.

    Inside a torchrun process group the model trains data-parallel (DDP): each rank passes its shard
    loader, the epoch's loss and accuracy are summed over ranks, rank 0 alone evaluates the test set.
    """
    optimizer = config.make_optimizer(model, device)
    step = TrainStep(model, loss_fn, optimizer, config, device, teacher)
    result = TrainResult()
    resumable = state_file is not None and distributed.world_size() == 1
    generators = [train_loader] + ([unlabelled] if unlabelled is not None else [])
    settings = {"train": config.to_dict(), "precision": step.precision.to_dict(),
                "kind": compute_kind(device, step.precision, config.compile)}
    first_epoch, elapsed, cpu_elapsed = 0, 0.0, 0.0
    if resumable and state_file.is_file():
        first_epoch, history, elapsed, cpu_elapsed = load_training_state(state_file, model, optimizer, loss_fn,
                                                                         generators, settings, step.lookahead)
        result.history = [EpochMetrics(**m) for m in history]
    started, cpu_started = time.perf_counter(), time.process_time()
    cpu_spent = lambda: None if cpu_elapsed is None else cpu_elapsed + time.process_time() - cpu_started
    bar = tqdm(range(first_epoch, config.epochs), desc=desc, disable=not progress, leave=False)
    for epoch in bar:
        metrics, result.test_logits, result.test_labels = _train_epoch(step, epoch, train_loader, test_loader,
                                                                       unlabelled, desc)
        result.history.append(metrics)
        if resumable:
            save_training_state(state_file, epoch + 1, model, optimizer, loss_fn, generators, result.history,
                                elapsed + time.perf_counter() - started, cpu_spent(), settings, step.lookahead)
        bar.set_postfix(loss=f"{metrics.train_loss:.3f}", test_acc=f"{metrics.test_acc:.4f}")
        if on_epoch is not None:
            on_epoch(metrics)
    if first_epoch == config.epochs:  # every epoch was done before a kill that came before the record was written
        *_, result.test_logits, result.test_labels = evaluate_on_main(model, test_loader, device, config)
    result.wall_time_s, result.cpu_time_s = elapsed + time.perf_counter() - started, cpu_spent()
    return result


def _train_epoch(step: TrainStep, epoch: int, train_loader: Iterable, test_loader: Iterable,
                 unlabelled: Iterator[torch.Tensor] | None,
                 desc: str) -> tuple[EpochMetrics, torch.Tensor | None, torch.Tensor | None]:
    """One epoch of training, each step at its scheduled learning rate, then the test set: (metrics, test logits,
    labels)."""
    model, device, config = step.model, step.device, step.config
    start = time.perf_counter()
    steps_per_epoch = len(train_loader)
    config.start_epoch(model, epoch)
    lr = None
    model.train()
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.long)
    seen = 0
    diverged = f"{desc} diverged at learning rate {config.lr:g} ({{}}); it is not recorded"
    with value_checks(device.type != "cuda"):  # on CUDA they would sync every step; the epoch loss is checked below
        try:
            for index, (x, y) in enumerate(train_loader):
                factor = config.lr_factor(epoch * steps_per_epoch + index, steps_per_epoch)
                for group in step.optimizer.param_groups:
                    group["lr"] = group["base_lr"] * factor
                lr = step.optimizer.param_groups[0]["lr"] if lr is None else lr
                loss, logits = step(x, y, None if unlabelled is None else next(unlabelled))
                if step.lookahead is not None:
                    step.lookahead.after_step(model, epoch * steps_per_epoch + index + 1,
                                              config.epochs * steps_per_epoch)
                loss_sum += loss * y.numel()
                correct += (logits.argmax(1) == y).sum()
                seen += y.numel()
        except NonFiniteValues as error:
            raise Diverged(diverged.format(error)) from error
    loss_total, correct_total, seen = _summed_over_ranks(loss_sum, correct, seen)
    if seen == 0:
        raise ValueError("the training loader yielded no batch (data set smaller than one batch?)")
    test_loss, test_acc, logits, labels = evaluate_on_main(model, test_loader, device, config)
    metrics = EpochMetrics(epoch + 1, lr, loss_total / seen, correct_total / seen,
                           test_loss, test_acc, round(time.perf_counter() - start, 3))
    if not math.isfinite(metrics.train_loss):
        raise Diverged(diverged.format(f"training loss {metrics.train_loss} in epoch {epoch + 1}"))
    return metrics, logits, labels
