"""Provenance of a run: git commit, torch version, device, processor, threads, precision, compute kind, wall time,
date."""

import datetime
import os
import platform
import subprocess
from pathlib import Path

import torch

from bannet.precision import Precision


def _checkout_commit() -> str:
    """The bannet checkout's git commit now (suffixed '-dirty' with uncommitted changes), or 'unknown'."""
    where = Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=where, capture_output=True,
                                text=True, check=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=where,
                               capture_output=True, text=True, check=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{commit}-dirty" if dirty else commit


# Read when the process imports bannet, not when a record is written hours later: the checkout may have moved on by
# then (an editable install follows its working tree), but the process still runs the code it imported.
_CODE_COMMIT = _checkout_commit()


def git_commit() -> str:
    """The git commit of the bannet code this process runs: the checkout's when bannet was imported."""
    return _CODE_COMMIT


def cpu_model() -> str:
    """The processor's marketing name ("model name" of /proc/cpuinfo on Linux), else what platform reports."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def device_name(device: torch.device) -> str:
    """A human-readable device name: the GPU's name on CUDA, the processor and thread count otherwise."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    threads = torch.get_num_threads()
    return f"cpu ({cpu_model()}, {threads} thread{'s' if threads != 1 else ''})"


def provenance(device: torch.device, wall_time_s: float, precision: Precision | None = None,
               cpu_time_s: float | None = None, kind: dict | None = None) -> dict:
    """Everything needed to say where a number came from, and why a rerun elsewhere may differ from it."""
    return {
        "git_commit": git_commit(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "device": device_name(device),
        "cpu": {"model": cpu_model(), "machine": platform.machine(), "logical_cores": os.cpu_count(),
                "torch_capability": torch.backends.cpu.get_cpu_capability()},
        "threads": torch.get_num_threads(),
        "precision": None if precision is None else precision.to_dict(),
        "kind": kind,  # bannet.compute_kind: what every model of a seed must share
        "wall_time_s": round(wall_time_s, 3),
        # CPU seconds of the process over all its threads: unlike wall time, not inflated by other work on the host
        "cpu_time_s": None if cpu_time_s is None else round(cpu_time_s, 3),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
