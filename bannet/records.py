"""Recorded runs: per model a JSON record, fp16 test logits and a checkpoint, each written atomically.

Layout of a study folder: ``DIR/seed-<k>/<model>.json``, ``<model>.logits.npz`` and
``<model>.ckpt.pt``. The JSON record is written last, so a model counts as finished exactly when
its record exists; checkpoints stay out of git (results keep records and logits only).
"""

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch


@dataclass(frozen=True)
class ModelFiles:
    """The three files of one trained model in a study folder."""

    record: Path
    logits: Path
    checkpoint: Path


def seed_dir(study_dir: Path, seed: int) -> Path:
    """The folder holding one seed's models."""
    return Path(study_dir) / f"seed-{seed}"


def model_files(study_dir: Path, seed: int, model: str) -> ModelFiles:
    """Paths of one model's record, logits and checkpoint."""
    base = seed_dir(study_dir, seed)
    return ModelFiles(base / f"{model}.json", base / f"{model}.logits.npz", base / f"{model}.ckpt.pt")


def _atomic_write(path: Path, write) -> None:
    """Call write(file) on a temporary file beside `path`, then rename it over `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp creates owner-only files; records are meant to be shared
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_model(files: ModelFiles, record: dict, test_logits: torch.Tensor, test_labels: torch.Tensor,
               state_dict: dict | None) -> None:
    """Write checkpoint, fp16 logits, then the JSON record (the completion marker), each atomically."""
    if state_dict is not None:
        _atomic_write(files.checkpoint, lambda f: torch.save(state_dict, f))
    logits = test_logits.detach().to("cpu", torch.float16).numpy()
    labels = test_labels.detach().to("cpu", torch.int64).numpy()
    _atomic_write(files.logits, lambda f: np.savez_compressed(f, logits=logits, labels=labels))
    text = json.dumps(record, indent=1, sort_keys=False).encode()
    _atomic_write(files.record, lambda f: f.write(text))


def is_finished(files: ModelFiles) -> bool:
    """A model is finished when its record and its logits exist."""
    return files.record.is_file() and files.logits.is_file()


def load_record(path: Path) -> dict:
    """Read one JSON record."""
    with open(path) as f:
        return json.load(f)


def load_logits(path: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """Read (fp32 logits, int64 labels) from a logits file."""
    with np.load(path) as data:
        return torch.from_numpy(data["logits"].astype(np.float32)), torch.from_numpy(data["labels"])


def load_checkpoint(files: ModelFiles) -> dict:
    """Read a model's state dict; a clear error when only its record was kept."""
    if not files.checkpoint.is_file():
        raise FileNotFoundError(
            f"{files.checkpoint} is missing: the model is recorded but its checkpoint was not kept, "
            "so it cannot teach a student; delete its record to retrain it")
    return torch.load(files.checkpoint, map_location="cpu", weights_only=True)
