"""Recorded runs: per model a JSON record, its test outputs and a checkpoint, each written atomically.

Layout of a study folder: ``DIR/seed-<k>/<model>.json``, ``<model>.logits.npz``, ``<model>.ckpt.pt`` and, while
the model trains, ``<model>.state.pt`` (its training state at the end of the last finished epoch). The JSON
record is written last and holds the SHA-256 of the other two files, so a model counts as finished exactly
when its record exists, and a changed checkpoint or logits file is caught before it is used. A bf16 run stores
conv and linear weights in bf16 (what its forward computes with), so the checkpoints of models that teach are small
enough to commit beside the records and logits; training states stay out of git.

The outputs file keeps the test logits in fp16 (small enough to commit), shifted per row so that the largest is
0 (softmax is unchanged; fp16 is finest near 0 and a logit of 70,000 stays finite), and beside them the fp32
predictions: a model's recorded error is computed from those, so no fp16 tie can change it.
"""

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from bannet.errors import DamagedFile, InvalidInput, MissingFile
from bannet.files import atomic_write, read_file, sha256_of

FP16_MAX = float(np.finfo(np.float16).max)
RETRAIN = "delete it (and the record beside it) to retrain that model"


@dataclass(frozen=True)
class ModelFiles:
    """The files of one model in a study folder."""

    record: Path
    logits: Path
    checkpoint: Path
    state: Path


def error_pct(predictions: torch.Tensor, labels: torch.Tensor) -> float:
    """Test error (%) of predicted classes: 100 · mean(prediction ≠ label), in float64."""
    return 100.0 * (predictions != labels).double().mean().item()


@dataclass(frozen=True)
class StoredOutputs:
    """A model's test outputs as stored: logits (fp16, up to a per-row constant), labels, and predictions: the
    fp32 ones when `exact` (files written before they were stored give the fp16 logits' argmax instead)."""

    logits: torch.Tensor
    labels: torch.Tensor
    predictions: torch.Tensor
    exact: bool = True

    @property
    def error_pct(self) -> float:
        """Test error (%) of the stored predictions."""
        return error_pct(self.predictions, self.labels)


def seed_dir(study_dir: Path, seed: int) -> Path:
    """The folder holding one seed's models."""
    return Path(study_dir) / f"seed-{seed}"


def model_files(study_dir: Path, seed: int, model: str) -> ModelFiles:
    """Paths of one model's record, outputs, checkpoint and training state."""
    base = seed_dir(study_dir, seed)
    return ModelFiles(base / f"{model}.json", base / f"{model}.logits.npz", base / f"{model}.ckpt.pt",
                      base / f"{model}.state.pt")


def storable_logits(logits: torch.Tensor) -> np.ndarray:
    """fp16 logits shifted so each row's maximum is 0 (softmax-invariant), clamped to fp16's finite range."""
    shifted = logits.detach().to("cpu", torch.float32)
    shifted = shifted - shifted.amax(dim=1, keepdim=True)
    return shifted.clamp_(min=-FP16_MAX).to(torch.float16).numpy()


def save_model(files: ModelFiles, record: dict, test_logits: torch.Tensor, test_labels: torch.Tensor,
               state_dict: dict | None) -> dict:
    """Write checkpoint, outputs, then the JSON record (the completion marker) with their SHA-256; returns the record.

    Non-finite logits are refused: a model that produced them has diverged and its error would be meaningless.
    """
    logits = test_logits.detach().to("cpu", torch.float32)
    if not torch.isfinite(logits).all():
        raise FloatingPointError(f"{files.record.stem}: test logits hold {(~torch.isfinite(logits)).sum().item()} "
                                 "non-finite values; the model diverged and is not recorded")
    hashes = {}
    if state_dict is not None:
        hashes["checkpoint"] = atomic_write(files.checkpoint, lambda f: torch.save(state_dict, f))
    outputs = {"logits": storable_logits(logits), "labels": test_labels.detach().to("cpu", torch.int64).numpy(),
               "predictions": logits.argmax(1).to(torch.int64).numpy()}
    hashes["logits"] = atomic_write(files.logits, lambda f: np.savez_compressed(f, **outputs))
    record = {**record, "sha256": {files_key: {"file": getattr(files, files_key).name, "sha256": digest}
                                   for files_key, digest in hashes.items()}}
    text = json.dumps(record, indent=1, sort_keys=False).encode()
    atomic_write(files.record, lambda f: f.write(text))
    files.state.unlink(missing_ok=True)  # the model is finished: its training state is no longer needed
    return record


def is_finished(files: ModelFiles) -> bool:
    """A model is finished when its record and its outputs exist."""
    return files.record.is_file() and files.logits.is_file()


def load_record(path: Path) -> dict:
    """Read one JSON record; a one-line error naming the file when it is missing or damaged."""
    def read(p: Path) -> dict:
        record = json.loads(p.read_text())
        if not isinstance(record, dict):
            raise ValueError("not a JSON object")
        return record
    return read_file(path, read, "a bannet record (JSON)", RETRAIN)


def _read_outputs(path: Path) -> StoredOutputs:
    with np.load(path) as data:
        logits = torch.from_numpy(data["logits"].astype(np.float32))
        labels = torch.from_numpy(data["labels"])
        exact = "predictions" in data.files
        predictions = torch.from_numpy(data["predictions"]) if exact else logits.argmax(1)
    if logits.ndim != 2 or labels.shape != logits.shape[:1] or predictions.shape != labels.shape:
        raise ValueError(f"inconsistent shapes: logits {tuple(logits.shape)}, labels {tuple(labels.shape)}")
    return StoredOutputs(logits, labels, predictions, exact)


def load_outputs(path: Path) -> StoredOutputs:
    """Read a model's stored test outputs; a one-line error naming the file when it is missing or damaged."""
    return read_file(path, _read_outputs, "a bannet logits file (npz)", RETRAIN)


def load_logits(path: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """Read (fp32 logits up to a per-row constant, int64 labels) from an outputs file."""
    outputs = load_outputs(path)
    return outputs.logits, outputs.labels


def verify(files: ModelFiles, which: str, record: dict | None = None) -> None:
    """Check the `which` file ("checkpoint" or "logits") against the SHA-256 its record holds (older records hold none)."""
    record = load_record(files.record) if record is None else record
    expected = record.get("sha256", {}).get(which, {}).get("sha256")
    path = getattr(files, which)
    if expected is not None and sha256_of(path) != expected:
        raise DamagedFile(f"{path} does not match the SHA-256 in {files.record.name}: it was changed or damaged after "
                          f"training; {RETRAIN}, and the records of the models it taught")


def load_checkpoint(files: ModelFiles) -> dict:
    """Read a model's state dict after checking its SHA-256; a clear error when only its record was kept."""
    if not files.checkpoint.is_file():
        raise MissingFile(
            f"{files.checkpoint} is missing: the model is recorded but its checkpoint was not kept, "
            "so it cannot teach a student; delete its record to retrain it")
    verify(files, "checkpoint")
    return read_file(files.checkpoint, lambda p: torch.load(p, map_location="cpu", weights_only=True),
                     "a model checkpoint", RETRAIN)


def check_study_folder(study_dir: Path, study: str, profile: str) -> None:
    """Refuse a folder that already holds records of another study or profile: one folder, one study."""
    for path in sorted(Path(study_dir).glob("seed-*/*.json")):
        record = load_record(path)
        theirs = (record.get("study"), record.get("profile"))
        if theirs != (study, profile):
            raise InvalidInput(f"{study_dir} holds {theirs[0]} [{theirs[1]}] ({path.relative_to(study_dir)}), "
                               f"not {study} [{profile}]: give each study its own --out")
