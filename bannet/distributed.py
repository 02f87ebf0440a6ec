"""The process group of a torchrun launch: this process's rank and device, and the collectives the trainer needs.

Under `torchrun --nproc_per_node N -m bannet run ...` every process joins one group (NCCL on CUDA,
gloo on CPU) from torchrun's environment (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT).
Rank 0 is the main process: it alone reads and writes the study folder and sends what it read to
the others, so the folder need only exist on rank 0's machine. Without a process group every helper
is a no-op that answers as a single process would (rank 0 of 1), at the cost of one flag check.
"""

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import torch
import torch.distributed as dist
from torch import nn
from torch.distributed.elastic.multiprocessing.errors import record
from torch.nn.parallel import DistributedDataParallel

from bannet.errors import InvalidInput

T = TypeVar("T")

_TORCHRUN_VARIABLES = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


def launched_by_torchrun() -> bool:
    """True when this process was started by torchrun (its RANK and WORLD_SIZE are set)."""
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


def is_initialized() -> bool:
    """True inside an initialised process group."""
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    """This process's global rank (0 without a process group)."""
    return dist.get_rank() if is_initialized() else 0


def world_size() -> int:
    """Number of processes in the group (1 without a process group)."""
    return dist.get_world_size() if is_initialized() else 1


def is_main() -> bool:
    """True on rank 0, the process that reads and writes the study folder."""
    return rank() == 0


def local_rank() -> int:
    """This process's index on its machine: torchrun's LOCAL_RANK (0 without torchrun)."""
    return int(os.environ.get("LOCAL_RANK", 0))


def init_from_env(device: str = "auto") -> torch.device:
    """Join torchrun's process group; returns cuda:LOCAL_RANK with NCCL, or cpu with gloo.

    `device` is "auto" (CUDA when present), "cuda" or "cpu"; a fixed "cuda:N" is refused because
    torchrun gives each process its own GPU.
    """
    missing = [name for name in _TORCHRUN_VARIABLES if name not in os.environ]
    if missing:
        raise RuntimeError(f"not started by torchrun: environment variable(s) {', '.join(missing)} missing "
                           "(launch with `torchrun --nproc_per_node N -m bannet run ...`)")
    if device not in ("auto", "cuda", "cpu"):
        raise InvalidInput(f"under torchrun the device must be auto, cuda or cpu (each process takes cuda:LOCAL_RANK), "
                         f"got {device!r}")
    if is_initialized():
        raise RuntimeError("the process group is already initialised")
    use_cuda = device == "cuda" or (device == "auto" and torch.cuda.is_available())
    if not use_cuda:
        dist.init_process_group("gloo")
        return torch.device("cpu")
    index = local_rank()
    if index >= torch.cuda.device_count():
        raise RuntimeError(f"LOCAL_RANK {index} has no GPU: this machine shows {torch.cuda.device_count()} "
                           "(use --nproc_per_node at most the number of GPUs)")
    torch.cuda.set_device(index)
    cuda = torch.device("cuda", index)
    dist.init_process_group("nccl", device_id=cuda)
    return cuda


def teardown() -> None:
    """Leave the process group (no-op without one)."""
    if is_initialized():
        dist.destroy_process_group()


def barrier() -> None:
    """Wait until every rank gets here (no-op without a process group)."""
    if is_initialized():
        dist.barrier()


def all_reduce_sum(tensor: torch.Tensor) -> torch.Tensor:
    """Replace `tensor` in place by its sum over all ranks, without gradient; returns it (unchanged when alone)."""
    if is_initialized():
        with torch.no_grad():
            dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def from_main(compute: Callable[[], T]) -> T:
    """compute() on rank 0, its result sent to every rank; an exception it raises is raised on every rank."""
    if not is_initialized():
        return compute()
    outcome: list = [None]
    if is_main():
        try:
            outcome[0] = (True, compute())
        except Exception as error:
            outcome[0] = (False, error)
    dist.broadcast_object_list(outcome, src=0)
    succeeded, value = outcome[0]
    if not succeeded:
        raise value
    return value


@contextmanager
def local_main_first() -> Iterator[None]:
    """Run the block on each machine's LOCAL_RANK 0 first (e.g. a download), then on the other ranks."""
    if is_initialized() and local_rank() != 0:
        dist.barrier()
    yield
    if is_initialized() and local_rank() == 0:
        dist.barrier()


def per_rank_batch(global_batch: int, world: int | None = None) -> int:
    """global_batch / world (default: the group's size); ValueError unless it divides evenly."""
    world = world_size() if world is None else world
    if global_batch % world:
        raise InvalidInput(f"the global batch {global_batch} must be divisible by the number of processes {world} "
                         f"(each rank takes global_batch / world examples per step)")
    return global_batch // world


_GOLDEN_RATIO_32 = 0x9E3779B9  # odd, so rank ↦ rank·φ mod 2³² is one-to-one


def rank_seed(seed: int) -> int:
    """(seed + rank·φ) mod 2³²: a distinct 32-bit seed per rank (CPU generators keep 32 bits); rank 0 keeps seed."""
    if not 0 <= seed < 2**32:
        raise ValueError(f"seed must lie in [0, 2**32), got {seed}")
    return (seed + rank() * _GOLDEN_RATIO_32) % 2**32


def loss_settings(loss: str, seed: int) -> dict:
    """What a loss needs on this rank to see the global batch: DKPP its own draws (rank_seed); CWTM the number of
    shards and the all-reduce that sums its normaliser over them. Nothing else, and nothing alone."""
    if loss == "dkpp":
        return {"seed": rank_seed(seed)}
    if loss == "cwtm" and world_size() > 1:
        return {"shards": world_size(), "sum_over_shards": all_reduce_sum}
    return {}


def wrap_ddp(model: nn.Module, device: torch.device) -> nn.Module:
    """DistributedDataParallel(model) inside a process group of 2+ ranks, else the model itself.

    Gradients are averaged over ranks in backward; BatchNorm keeps per-rank batch statistics (PyTorch's
    default; rank 0's running statistics are broadcast before each forward).
    """
    if world_size() == 1:
        return model
    return DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)


def run_in_process_group(work: Callable[[torch.device], T], device: str = "auto") -> T:
    """Join torchrun's group, return work(device) and leave; a failure is reported with its rank and re-raised."""
    device_here = init_from_env(device)
    try:
        result = record(work)(device_here)
    except BaseException as error:
        print(f"bannet: rank {rank()} of {world_size()} failed: {type(error).__name__}: {error}; finished models "
              "keep their records, run the same command again to resume", file=sys.stderr, flush=True)
        raise  # the process group is left to exit with the process: tearing it down may wait on the dead peer
    teardown()
    return result
