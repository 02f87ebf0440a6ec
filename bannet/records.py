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
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from bannet.errors import DamagedFile, InvalidInput, MissingFile
from bannet.files import atomic_write, read_file, sha256_of
from bannet.presets import ModelSpec, Preset, control_model
from bannet.record_schema import SCHEMA, Record, check_schema
from bannet.study_settings import foreign_records

if TYPE_CHECKING:  # the trainer is not imported to read records
    from bannet.recipes import Recipe
    from bannet.train import TrainResult

FP16_MAX = float(np.finfo(np.float16).max)
RETRAIN = "delete it (and the record beside it) to retrain that model"


@dataclass(frozen=True)
class ModelFiles:
    """The files of one model in a study folder."""

    record: Path
    logits: Path
    checkpoint: Path
    state: Path


def new_record(preset: Preset, seed: int, model: ModelSpec, position: int, train: "Recipe", loss_settings: dict,
               measured: dict, parallel: dict, data: dict, num_params: int, result: "TrainResult",
               provenance: dict) -> Record:
    """The record of a trained model; `measured`: what was measured after training besides the plain test logits
    (train_error_plain_pct; train_confidence for models that teach; test_error_tta_pct and tta where the recipe has
    test-time augmentation)."""
    record = Record(schema=SCHEMA, study=preset.name, profile=preset.profile, seed=seed, model=asdict(model),
                    position=position, preset=asdict(preset), train=train.to_dict(), loss_settings=loss_settings,
                    **measured)
    record.update(parallel=parallel, data=data, num_params=num_params, test_accuracy=result.test_accuracy,
                  test_error_pct=error_pct(result.test_logits.argmax(1), result.test_labels),
                  epochs=[asdict(m) for m in result.history], provenance=provenance)
    return record


def error_pct(predictions: torch.Tensor, labels: torch.Tensor) -> float:
    """Test error (%) of predicted classes: 100 · mean(prediction ≠ label), in float64."""
    return 100.0 * (predictions != labels).double().mean().item()


@dataclass(frozen=True)
class StoredOutputs:
    """A model's test outputs as stored: logits (fp16, up to a per-row constant), labels, and the fp32 model's
    predictions (the fp16 logits' argmax can differ from them where two classes tie to fp16 precision)."""

    logits: torch.Tensor
    labels: torch.Tensor
    predictions: torch.Tensor

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


def save_model(files: ModelFiles, record: Record, test_logits: torch.Tensor, test_labels: torch.Tensor,
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


def load_record(path: Path) -> Record:
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
        predictions = torch.from_numpy(data["predictions"])
    if logits.ndim != 2 or labels.shape != logits.shape[:1] or predictions.shape != labels.shape:
        raise ValueError(f"inconsistent shapes: logits {tuple(logits.shape)}, labels {tuple(labels.shape)}")
    return StoredOutputs(logits, labels, predictions)


def load_outputs(path: Path) -> StoredOutputs:
    """Read a model's stored test outputs; a one-line error naming the file when it is missing or damaged."""
    return read_file(path, _read_outputs, "a bannet logits file (npz)", RETRAIN)


def load_logits(path: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """Read (fp32 logits up to a per-row constant, int64 labels) from an outputs file."""
    outputs = load_outputs(path)
    return outputs.logits, outputs.labels


def verify(files: ModelFiles, which: str, record: dict | None = None) -> None:
    """Check the `which` file ("checkpoint" or "logits") against the SHA-256 its record holds."""
    record = load_record(files.record) if record is None else record
    expected = record.get("sha256", {}).get(which, {}).get("sha256")
    path = getattr(files, which)
    if expected is None:
        raise DamagedFile(f"{files.record} holds no SHA-256 for {path.name}, so it cannot be checked; {RETRAIN}")
    if sha256_of(path) != expected:
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


@dataclass
class SeedModel:
    """One recorded model of one seed: its record and stored test outputs (logits, labels, fp32 predictions)."""

    record: Record
    outputs: StoredOutputs

    @property
    def logits(self) -> torch.Tensor:
        """Stored test logits (fp16, up to a per-row constant)."""
        return self.outputs.logits

    @property
    def labels(self) -> torch.Tensor:
        """Test labels."""
        return self.outputs.labels

    @property
    def error_pct(self) -> float:
        """Test error (%) from the fp32 predictions."""
        return self.outputs.error_pct


@dataclass
class Study:
    """Every recorded model of a study folder, by seed and model name."""

    path: Path
    models: dict[int, dict[str, SeedModel]]
    skipped: list[str] = field(default_factory=list)

    @property
    def seeds(self) -> list[int]:
        """The seeds that have at least one recorded model."""
        return sorted(self.models)

    def model_names(self) -> list[str]:
        """Model names in training order (their position in the study plan)."""
        names: list[str] = []
        for seed in self.seeds:
            ordered = sorted(self.models[seed].values(), key=lambda m: m.record["position"])
            names += [m.record["model"]["name"] for m in ordered if m.record["model"]["name"] not in names]
        return names

    @property
    def name(self) -> str:
        """The study's name: its preset's."""
        return self.first_record()["study"]

    @property
    def control_model(self) -> str:
        """The baseline of paired differences: the label-trained model of the students' architecture."""
        preset = self.first_record()["preset"]
        return control_model(preset["teacher_arch"], preset["student_arch"])

    def first_record(self) -> Record:
        """The record of the first model (by plan position) of the first seed: what every model of the study shares."""
        return min(self.models[self.seeds[0]].values(), key=lambda m: m.record["position"]).record

    def record(self, seed: int, name: str) -> Record:
        """One model's JSON record."""
        return self.models[seed][name].record


def _load_model(files: ModelFiles) -> SeedModel:
    """One model's record, checked against the schema, and its outputs, checked against the record's SHA-256."""
    record = load_record(files.record)
    check_schema(files.record, record)
    verify(files, "logits", record)
    return SeedModel(record, load_outputs(files.logits))


def load_study(path: str | Path) -> Study:
    """Read every finished model under `path`; a damaged or malformed model, or one trained with other settings than
    the study's, is left out and named in Study.skipped.

    A folder must hold one study in one profile, evaluated on one test set; a clear error otherwise.
    """
    path = Path(path)
    if not path.is_dir():
        raise MissingFile(f"no study folder at {path}")
    models: dict[int, dict[str, SeedModel]] = {}
    skipped = []
    for record_path in sorted(path.glob("seed-*/*.json")):
        match = re.fullmatch(r"seed-(\d+)", record_path.parent.name)
        if match is None:
            continue
        seed = int(match.group(1))
        files = model_files(path, seed, record_path.stem)
        if not files.logits.is_file():
            continue
        try:
            models.setdefault(seed, {})[record_path.stem] = _load_model(files)
        except (DamagedFile, MissingFile) as error:
            skipped.append(str(error))
    if not models:
        raise MissingFile(f"{path} holds no readable recorded model (expected seed-<k>/<model>.json with "
                          ".logits.npz)" + "".join(f"; {s}" for s in skipped))
    studies = sorted({(m.record.get("study"), m.record.get("profile")) for seed in models.values()
                      for m in seed.values()}, key=str)
    if len(studies) > 1:
        named = ", ".join(f"{s} [{p}]" for s, p in studies)
        raise InvalidInput(f"{path} mixes records of {len(studies)} studies ({named}): a report averages one study; "
                           "move each into its own folder")
    foreign = foreign_records({model_files(path, seed, name).record: model.record
                               for seed, by_name in models.items() for name, model in by_name.items()})
    for seed, by_name in list(models.items()):
        models[seed] = {name: m for name, m in by_name.items() if model_files(path, seed, name).record not in foreign}
    models = {seed: by_name for seed, by_name in models.items() if by_name}  # a seed all of other settings
    skipped += foreign.values()
    labels = [m.labels for seed in models.values() for m in seed.values()]
    if any(not torch.equal(labels[0], other) for other in labels[1:]):
        raise InvalidInput(f"{path}: models were evaluated on different test sets; cannot compare them")
    return Study(path, models, skipped)
