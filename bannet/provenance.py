"""Provenance of a run: git commit, torch version, device, date."""

import datetime
import platform
import subprocess
from pathlib import Path

import torch


def git_commit() -> str:
    """The current git commit of the bannet checkout (suffixed '-dirty' with uncommitted changes), or 'unknown'."""
    where = Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=where, capture_output=True,
                                text=True, check=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=where,
                               capture_output=True, text=True, check=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{commit}-dirty" if dirty else commit


def device_name(device: torch.device) -> str:
    """A human-readable device name: the GPU's name on CUDA, the processor otherwise."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    threads = torch.get_num_threads()
    return f"cpu ({platform.processor() or platform.machine()}, {threads} thread{'s' if threads != 1 else ''})"


def provenance(device: torch.device, wall_time_s: float) -> dict:
    """Everything needed to say where a number came from."""
    return {
        "git_commit": git_commit(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "device": device_name(device),
        "wall_time_s": round(wall_time_s, 3),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
