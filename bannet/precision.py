"""Training precision: bf16 autocast + channels_last where the hardware multiplies bf16 natively, fp32 elsewhere
(channels_last on every CPU).

Evidence (2-core Xeon with AMX and AVX512-BF16, batch 128, 2 threads, one training step): bf16 autocast +
channels_last runs 2.2-3.0x the images/s of fp32 (WRN-28-1 394 -> 914, WRN-16-2 268 -> 808, ResNet-18 at
128 px 58 -> 152); `benchmarks/results/` holds the measured runs. Without bf16 matrix instructions the CPU
emulates bf16 and is slower than fp32, hence "auto". There, in fp32 (2-core AMD EPYC, AVX2 only, one training
step), channels_last runs 1.2-1.5x the images/s of contiguous tensors (label steps: WRN-28-1 at batch 128 248 -> 316,
airbench-64-256-256 at batch 1000 112 -> 138; benchmarks/results/recipes-cpu-amd-epyc-avx2-2026-12-07.txt).
"""

from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from bannet.errors import InvalidInput

PRECISIONS = ("auto", "fp32", "bf16")
_BF16_CPU_FLAGS = {"amx_bf16", "avx512_bf16"}
# Autocast casts these modules' weights and biases to bf16 before every use (torch's autocast op lists for conv
# and linear on CPU and CUDA), so stored in bf16 they give the bf16 forward exactly the numbers it always saw.
_AUTOCAST_CAST_MODULES = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)


def cpu_has_bf16_matmul() -> bool:
    """True when this CPU has bf16 matrix instructions (AMX or AVX512-BF16), as torch or /proc/cpuinfo reports."""
    probes = [getattr(torch.cpu, name, None) for name in ("_is_amx_tile_supported", "_is_avx512_bf16_supported")]
    if any(probe is not None for probe in probes):
        return any(probe() for probe in probes if probe is not None)
    cpuinfo = Path("/proc/cpuinfo")
    flags = cpuinfo.read_text().split() if cpuinfo.is_file() else []
    return bool(_BF16_CPU_FLAGS & set(flags))


@dataclass(frozen=True)
class Precision:
    """What a run computes in: bf16 autocast or plain fp32, with channels_last activations and weights where they are
    faster: with bf16 (what makes oneDNN's and cuDNN's bf16 convolutions fast) and with fp32 on a CPU."""

    requested: str
    bf16: bool
    channels_last: bool

    def autocast(self, device: torch.device) -> AbstractContextManager:
        """The autocast context of this precision on `device` (nothing for fp32)."""
        if not self.bf16:
            return nullcontext()
        return torch.autocast(device.type, dtype=torch.bfloat16)

    def storable_state_dict(self, model: nn.Module) -> dict:
        """The state dict as this precision's forward sees it: under bf16, conv and linear parameters in bf16 (about
        half the bytes; loading them back gives bit-identical bf16 outputs); otherwise `model.state_dict()`."""
        state = model.state_dict()
        if not self.bf16:
            return state
        for prefix, module in model.named_modules():
            if isinstance(module, _AUTOCAST_CAST_MODULES):
                for name, _ in module.named_parameters(recurse=False):
                    key = f"{prefix}.{name}" if prefix else name
                    state[key] = state[key].to(torch.bfloat16)
        return state

    def to_dict(self) -> dict:
        """What a record states: the request and what was actually used."""
        return {"requested": self.requested, "compute": "bf16 autocast" if self.bf16 else "fp32",
                "memory_format": "channels_last" if self.channels_last else "contiguous"}


def check_precision(requested: str) -> str:
    """`requested` if it names a precision; a one-line error otherwise."""
    if requested not in PRECISIONS:
        raise InvalidInput(f"precision must be one of {', '.join(PRECISIONS)}, got {requested!r}")
    return requested


def resolve_precision(requested: str, device: torch.device) -> Precision:
    """auto: bf16 on GPUs and CPUs with bf16 matrix instructions, fp32 elsewhere; fp32 and bf16 as asked;
    channels_last with bf16 and on every CPU."""
    check_precision(requested)
    if requested == "auto":
        bf16 = torch.cuda.is_bf16_supported() if device.type == "cuda" else cpu_has_bf16_matmul()
    else:
        bf16 = requested == "bf16"
    return Precision(requested, bf16, channels_last=bf16 or device.type == "cpu")
