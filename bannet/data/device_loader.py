"""The fast input pipeline: a whole split resident on the device, batched, augmented and normalised there."""

from collections.abc import Iterator

import torch
from torch import Tensor

from .augment import Augmentation, build_augmentation
from .specs import DatasetSpec


class DeviceLoader:
    """Iterate (x float32 normalised N×C×H×W, y int64 N) batches of a device-resident uint8 split.

    Each `iter()` of a training loader draws a fresh permutation from `generator` (a CPU
    torch.Generator; its state simply advances, no set_epoch); evaluation loaders keep the stored
    order. Augmentation (when `train`: `augmentation`, by default the data set's, spec.augment) runs in
    batch on the device, then x = (x / 255 − mean) / std. state_dict() holds the generator's state and
    the augmentation's memory of earlier epochs, if it has one.

    Sharding: the global batch is batch_size × world_size. Global batch k is the slice
    [k·B·W, (k+1)·B·W) of the epoch permutation and rank r takes its contiguous part
    [r·B, (r+1)·B); the augmentation parameters are drawn once per global batch and sliced the same
    way. So W ranks with batch B, seeded alike, see exactly the examples (and augmented pixels) of one
    rank with batch B·W, and every rank's generator stays in step. A short last global batch
    (drop_last=False) is split as evenly as possible, earlier ranks taking the extra example.

    No host synchronisation per batch: the epoch's permutation and all its augmentation parameters
    are drawn on the CPU when the epoch starts (in the same order as batch by batch) and reach the
    device in one non-blocking copy from pinned memory on CUDA.
    """

    def __init__(self, images: Tensor, labels: Tensor, spec: DatasetSpec, batch_size: int, train: bool,
                 device: str | torch.device = "cpu", generator: torch.Generator | None = None,
                 drop_last: bool | None = None, rank: int = 0, world_size: int = 1,
                 channels_last: bool = False, augmentation: Augmentation | None = None) -> None:
        _check_split(images, labels, spec)
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if not 0 <= rank < world_size:
            raise ValueError(f"need 0 <= rank < world_size, got rank={rank}, world_size={world_size}")
        if generator is not None and generator.device.type != "cpu":
            raise ValueError(f"generator must be a CPU torch.Generator, got one on {generator.device}")
        self.device = torch.device(device)
        self.images = images.to(self.device)
        self.labels = labels.to(self.device)
        self.spec = spec
        self.batch_size = batch_size
        self.train = train
        self.generator = generator if generator is not None else _seeded_from_global()
        self.drop_last = train if drop_last is None else drop_last
        self.rank = rank
        self.world_size = world_size
        self.channels_last = channels_last
        self.augmentation = (augmentation or build_augmentation(spec)) if train else None
        shape = (1, spec.channels, 1, 1)
        self.mean = torch.tensor(spec.mean, device=self.device).view(shape)
        self.std = torch.tensor(spec.std, device=self.device).view(shape)

    @property
    def global_batch_size(self) -> int:
        """Examples per step over all ranks: batch_size × world_size."""
        return self.batch_size * self.world_size

    def __len__(self) -> int:
        """Batches per epoch: ⌊N / global⌋ with drop_last, else ⌈N / global⌉."""
        n, g = self.labels.shape[0], self.global_batch_size
        return n // g if self.drop_last else -(-n // g)

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        """One epoch of this rank's batches; no batch waits on the host (the epoch's randomness moves up front)."""
        n, g = self.labels.shape[0], self.global_batch_size
        if self.train:
            order = torch.randperm(n, generator=self.generator)
            if hasattr(self.augmentation, "start_epoch"):
                self.augmentation.start_epoch(order, self.generator)
            order = _to_device(order, self.device)
        else:
            order = torch.arange(n, device=self.device)
        params = self._draw_epoch(n, g)
        for start in range(0, len(self) * g, g):
            global_index = order[start:start + g]
            mine = self._shard(global_index.shape[0])
            index = global_index[mine]
            x = self.images[index].float().div_(255)
            if self.augmentation is not None:
                x = self.augmentation.apply(x, {k: v[start:start + g][mine] for k, v in params.items()})
            x = x.sub_(self.mean).div_(self.std)
            if self.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            yield x, self.labels[index]

    def state_dict(self) -> dict:
        """Where the loader stands between epochs: its generator's state and its augmentation's, if any."""
        remembers = hasattr(self.augmentation, "state_dict")
        return {"generator": self.generator.get_state(),
                "augmentation": self.augmentation.state_dict() if remembers else None}

    def load_state_dict(self, state: dict) -> None:
        """Continue from a state_dict()."""
        self.generator.set_state(state["generator"])
        if state["augmentation"] is not None:
            self.augmentation.load_state_dict(state["augmentation"])

    def _draw_epoch(self, n: int, g: int) -> dict[str, Tensor]:
        """The augmentation parameters of every global batch of the epoch, drawn in batch order, on the device."""
        starts = range(0, len(self) * g, g)
        if self.augmentation is None or not starts:
            return {}
        draws = [self.augmentation.draw(min(g, n - start), self.generator) for start in starts]
        return {k: _to_device(torch.cat([d[k] for d in draws]), self.device) for k in draws[0]}

    def _shard(self, m: int) -> slice:
        """This rank's contiguous part of a global batch of m examples (sizes differ by at most 1)."""
        base, extra = divmod(m, self.world_size)
        lo = self.rank * base + min(self.rank, extra)
        return slice(lo, lo + base + (self.rank < extra))


def _check_split(images: Tensor, labels: Tensor, spec: DatasetSpec) -> None:
    """Raise a clear error unless images is uint8 N×C×S×S matching spec and labels is int64 N."""
    if not isinstance(images, Tensor) or images.dtype != torch.uint8 or images.ndim != 4:
        raise TypeError(f"images must be a uint8 tensor N×C×H×W, got "
                        f"{getattr(images, 'dtype', type(images))} with shape {tuple(getattr(images, 'shape', ()))}")
    want = (spec.channels, spec.image_size, spec.image_size)
    if tuple(images.shape[1:]) != want:
        raise ValueError(f"{spec.name} images must be N×{want[0]}×{want[1]}×{want[2]}, got {tuple(images.shape)}")
    if not isinstance(labels, Tensor) or labels.dtype != torch.int64 or labels.shape != images.shape[:1]:
        raise TypeError(f"labels must be an int64 tensor of shape ({images.shape[0]},), got "
                        f"{getattr(labels, 'dtype', type(labels))} with shape {tuple(getattr(labels, 'shape', ()))}")


def _to_device(tensor: Tensor, device: torch.device) -> Tensor:
    """Copy a CPU tensor to `device`; on CUDA through pinned memory without blocking the host."""
    if device.type == "cuda":
        return tensor.pin_memory().to(device, non_blocking=True)
    return tensor.to(device)


def _seeded_from_global() -> torch.Generator:
    """A CPU generator seeded from torch's global RNG, so torch.manual_seed makes it reproducible."""
    return torch.Generator().manual_seed(int(torch.randint(2**62, ())))


class EndlessBatches:
    """A training DeviceLoader's image batches, pass after pass (a fresh permutation each), without end.

    Its state (the generator's state when the current pass began, and how many batches of it were taken)
    lets a resumed run continue inside a pass with exactly the batches it would have seen.
    """

    def __init__(self, loader: DeviceLoader) -> None:
        if len(loader) == 0:
            raise ValueError(f"{len(loader.labels)} images are fewer than one batch of {loader.global_batch_size}")
        self.loader = loader
        self._pass: Iterator[tuple[Tensor, Tensor]] | None = None
        self._pass_start = loader.state_dict()
        self._taken = 0

    def __iter__(self) -> "EndlessBatches":
        return self

    def __next__(self) -> Tensor:
        """The next image batch (its labels are dropped)."""
        batch = None
        while batch is None:  # a pass ended: the next begins (the loader holds at least one batch)
            if self._pass is None:
                self._pass_start, self._taken = self.loader.state_dict(), 0
                self._pass = iter(self.loader)
            batch = next(self._pass, None)
            if batch is None:
                self._pass = None
        self._taken += 1
        return batch[0]

    def state_dict(self) -> dict:
        """Where the stream stands: the loader's state when the current pass began and the batches taken from it."""
        started = self._pass is not None
        return {"pass_start": self._pass_start if started else self.loader.state_dict(),
                "taken": self._taken if started else 0}

    def load_state_dict(self, state: dict) -> None:
        """Continue where a stream with this state stood (the pass's batches are recomputed up to that point)."""
        self.loader.load_state_dict(state["pass_start"])
        self._pass, self._pass_start, self._taken = None, state["pass_start"], 0
        if state["taken"]:
            self._pass_start, self._pass = self.loader.state_dict(), iter(self.loader)
            for _ in range(state["taken"]):
                next(self._pass)
            self._taken = state["taken"]
