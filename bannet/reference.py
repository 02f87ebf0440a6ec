"""Plain-PyTorch references: bannet's losses written with torch.nn.functional for autograd to differentiate, and
the plain fp32 training step of the usual BAN repository (torchvision Dataset + PIL transforms, DataLoader,
autograd loss, torch's SGD).

They are the yardstick that bannet's explicit-backward losses and its fast path (DeviceLoader + TrainStep) are
measured and tested against: benchmarks/train_throughput.py times both sides, tests/test_fast_path.py checks that
they compute the same thing, and chapter 02 compares values, gradients and costs. tests/test_losses.py keeps an
oracle of its own, so the losses are never checked against this module alone.
"""

from collections.abc import Callable

import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset

from bannet.losses import dkpp_targets
from bannet.recipes import StepRecipe

ReferenceLoss = Callable[[Tensor, Tensor | None, Tensor], Tensor]  # f(student logits, teacher logits, labels) -> loss


def soft_cross_entropy(student_logits: Tensor, target_probs: Tensor, T: float) -> Tensor:
    """-(T²/b) Σ_s Σ_i p_{i,s} log softmax(z_s/T)_i, with F.cross_entropy against the target distribution p."""
    return T**2 * F.cross_entropy(student_logits / T, target_probs)


def reference_loss(name: str, T: float = 1.0, seed: int = 0, mass: float | None = None) -> ReferenceLoss:
    """The autograd reference of build_loss(name): ce, ban, ban+l (unit weights), cwtm, dkpp (permutations drawn
    as build_loss("dkpp", seed=seed) draws them) and ls (wrong-class mass `mass`), called as f(z, t, y)."""
    generator = torch.Generator().manual_seed(seed)

    def teacher_probs(t: Tensor) -> Tensor:
        return F.softmax(t.detach() / T, dim=1)

    def ban(z: Tensor, t: Tensor, y: Tensor) -> Tensor:
        return soft_cross_entropy(z, teacher_probs(t), T)

    def cwtm(z: Tensor, t: Tensor, y: Tensor) -> Tensor:
        confidence = teacher_probs(t).amax(dim=1)
        return (confidence / confidence.sum() * F.cross_entropy(z, y, reduction="none")).sum()

    def dkpp(z: Tensor, t: Tensor, y: Tensor) -> Tensor:
        return soft_cross_entropy(z, dkpp_targets(teacher_probs(t), generator), T)

    def ls(z: Tensor, t: Tensor | None, y: Tensor) -> Tensor:  # torch's ε also gives ε/n to the true class
        classes = z.shape[1]
        return F.cross_entropy(z, y, label_smoothing=mass * classes / (classes - 1))

    references = {"ce": lambda z, t, y: F.cross_entropy(z, y), "ban": ban,
                  "ban+l": lambda z, t, y: F.cross_entropy(z, y) + ban(z, t, y), "cwtm": cwtm, "dkpp": dkpp, "ls": ls}
    if name not in references:
        raise ValueError(f"no reference for loss {name!r}; known: {', '.join(references)}")
    if name == "ls" and mass is None:
        raise ValueError("the reference of 'ls' needs its wrong-class mass, as build_loss('ls', mass=...) does")
    return references[name]


class PixelDataset(Dataset):
    """(transform(PIL image), label) of uint8 N×C×H×W images, kept N×H×W×C as torchvision's CIFAR10 keeps its own."""

    def __init__(self, images: Tensor, labels: Tensor, transform: Callable) -> None:
        self.data = images.permute(0, 2, 3, 1).contiguous().numpy()
        self.targets = labels.tolist()
        self.transform = transform

    def __len__(self) -> int:
        """Number of images."""
        return len(self.targets)

    def __getitem__(self, i: int) -> tuple[Tensor, int]:
        """Image i through PIL and the transform, with its label."""
        return self.transform(Image.fromarray(self.data[i])), self.targets[i]


def plain_loader(dataset: Dataset, batch_size: int, workers: int, device: torch.device) -> DataLoader:
    """The plain DataLoader: shuffled, `workers` processes kept alive, pinned memory on CUDA."""
    return DataLoader(dataset, batch_size=batch_size, shuffle=True, drop_last=True, num_workers=workers,
                      pin_memory=device.type == "cuda", persistent_workers=workers > 0)


class PlainStep:
    """The plain loop's step: blocking copies to the device, fp32, teacher under no_grad, autograd loss, torch SGD."""

    def __init__(self, model: nn.Module, config: StepRecipe, device: torch.device, teacher: nn.Module | None = None,
                 loss: str = "ce") -> None:
        self.model, self.device, self.teacher = model.to(device), device, teacher
        if teacher is not None:
            teacher.to(device).eval()
        self.loss = reference_loss(loss)
        self.optimizer = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum,
                                         nesterov=config.nesterov, weight_decay=config.weight_decay)

    def __call__(self, x: Tensor, y: Tensor) -> Tensor:
        """Update the model on one batch; returns the loss."""
        x, y = x.to(self.device), y.to(self.device)
        self.optimizer.zero_grad()
        teacher_logits = None
        if self.teacher is not None:
            with torch.no_grad():
                teacher_logits = self.teacher(x)
        loss = self.loss(self.model(x), teacher_logits, y)
        loss.backward()
        self.optimizer.step()
        return loss
