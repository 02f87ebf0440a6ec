"""What a model's JSON record holds, by schema version, and the one check a record passes before anything reads it.

Version 1 records (the recorded studies, and any record without a "schema" key) are read as they are: every
reader relies only on the fields both versions hold. Version 2 records name their schema and are written whole by
records.new_record, so they must hold every field of a trained model.
"""

import re
from pathlib import Path
from typing import TypedDict

from bannet.errors import DamagedFile

SCHEMA = 2  # the version this bannet writes, and the newest it reads


class Record(TypedDict, total=False):
    """One trained model's JSON record: the schema every reader of a study relies on (keys as written)."""

    schema: int               # 2; absent in version 1 records
    study: str                # the preset's name
    profile: str              # "full", or the profile that shrank the preset
    seed: int
    model: dict               # the ModelSpec: name, arch, loss, teacher, unlabelled, epochs_factor, smoothing_from
    position: int             # the model's place in the study plan (training order)
    preset: dict              # the Preset as trained
    train: dict               # the Recipe: recipe (its name), epochs, batch_size, lr, ..., precision, compile
    loss_settings: dict       # the loss's recorded keyword arguments ("ls": mass; "logit-adjusted": tau and priors,
    #                           the class priors of the study's training labels)
    train_confidence: dict    # models that teach: mean_max_prob, mean_non_top_mass on unaugmented training images
    train_error_plain_pct: float  # error on the un-augmented training images at the end (newer records)
    holdout_error_pct: float      # presets with a held-out part: the error on its images (argmax over every output),
    holdout_test_classes_error_pct: float  # and on those of its images whose classes the test set holds
    test_error_tta_pct: float     # recipes with test-time augmentation: the test error of the views' mean softmax,
    tta: dict                 # and which views; never the study's measure, which is the plain test_error_pct
    parallel: dict            # world_size, global_batch, per_rank_batch, lr
    data: dict                # dataset, train_size, test_size, image_size, unlabelled_size, holdout_size (newer)
    num_params: int
    test_accuracy: float
    test_error_pct: float     # from the fp32 logits' argmax
    epochs: list[dict]        # per epoch: epoch, lr, train_loss, train_acc, test_loss, test_acc, seconds
    provenance: dict          # git_commit, torch, python, device, cpu, threads, precision, kind (the compute kind:
    #                           absent or None in older records), wall_time_s, cpu_time_s (absent or None when not
    #                           measured), date
    sha256: dict              # {"checkpoint"|"logits": {"file", "sha256"}}, added by save_model


# What a report reads from every record, whatever its version (hand-made and version 1 records hold no more).
_EVERY_VERSION = {"study": str, "profile": str, "seed": int, "model": dict, "position": int, "preset": dict}
# What records.new_record and save_model always write.
_VERSION_2 = {**_EVERY_VERSION, "train": dict, "epochs": list, "data": dict, "provenance": dict, "sha256": dict,
              "test_error_pct": (int, float)}
# Optional fields: when present, readers index into them.
_WHEN_PRESENT = {"train": dict, "epochs": list, "data": dict, "provenance": dict, "sha256": dict,
                 "train_confidence": dict, "test_error_pct": (int, float)}


def _problem(record: dict, path: Path) -> str | None:
    """What keeps `record` (at `path`, DIR/seed-<k>/<model>.json) from being read, or None."""
    if not record:
        return "damaged: an empty record"
    version = record.get("schema", 1)
    if type(version) is not int or not 1 <= version <= SCHEMA:
        return (f"record schema {version!r}, which this bannet does not know (it reads 1 to {SCHEMA}): it was written "
                "by a newer bannet, or altered")
    required = _VERSION_2 if version == 2 else _EVERY_VERSION
    missing = [key for key in required if key not in record]
    if missing:
        return f"malformed record (schema {version}): no {', '.join(map(repr, missing))}"
    for key, kind in {**_WHEN_PRESENT, **required}.items():
        if key in record and (not isinstance(record[key], kind) or isinstance(record[key], bool)):
            return f"malformed record (schema {version}): {key!r} is {type(record[key]).__name__} {record[key]!r:.40}"
    if not isinstance(record["model"].get("name"), str):
        return f"malformed record (schema {version}): its model has no name"
    folder = re.fullmatch(r"seed-(\d+)", path.parent.name)
    if (record["model"]["name"], record["seed"]) != (path.stem, int(folder.group(1)) if folder else record["seed"]):
        return (f"it records seed {record['seed']}'s {record['model']['name']!r}, not the model its place names: "
                "moved or renamed by hand")
    return None


def check_schema(path: Path, record: dict) -> None:
    """Refuse a record that its readers cannot rely on: one line naming the file and what is wrong (DamagedFile)."""
    problem = _problem(record, Path(path))
    if problem is not None:
        raise DamagedFile(f"{path}: {problem}")
