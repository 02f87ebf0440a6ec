"""What a run checks before it creates or trains anything: first the request as a whole, then every record it would
add to, so that a mistake or a damaged file costs no training."""

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from bannet import records
from bannet.compute_kind import check_kind, check_seed_kind
from bannet.errors import InvalidInput
from bannet.presets import Preset, required_models, study_plan
from bannet.record_schema import check_schema
from bannet.study_settings import differing, run_settings, training_settings
from bannet.training_state import saved_settings

if TYPE_CHECKING:  # the request is checked without importing the trainer
    from bannet.recipes import Recipe


def check_seeds(seeds: list[int]) -> list[int]:
    """`seeds` when there is at least one and they are distinct non-negative integers; a one-line error otherwise."""
    if not seeds:
        raise InvalidInput("give at least one seed")
    if any(seed < 0 for seed in seeds):
        raise InvalidInput(f"seeds must be >= 0 (a study folder names them seed-<k>), got {seeds}")
    if len(set(seeds)) != len(seeds):
        raise InvalidInput(f"seeds must be distinct, got {seeds}")
    return seeds


def check_jobs(jobs: int | None) -> None:
    """--jobs, when given, is at least 1."""
    if jobs is not None and jobs < 1:
        raise InvalidInput(f"--jobs must be >= 1, got {jobs}")


def _check_writable(folder: Path, what: str) -> None:
    """`folder` is a writable folder, or its nearest existing parent is one where it can be made; creates nothing."""
    existing = next(path for path in (folder, *folder.parents) if path.exists())
    if existing == folder and not folder.is_dir():
        raise InvalidInput(f"{what} {folder} is a file, not a folder: give a folder for the study's records")
    if not existing.is_dir():
        raise InvalidInput(f"{what} {folder} is not writable: {existing} is a file, not a folder")
    try:
        tempfile.TemporaryFile(dir=existing).close()  # the permissions alone do not tell (root, read-only mounts)
    except OSError as error:
        raise InvalidInput(f"{what} {folder} is not writable ({error.strerror or error}): give a folder you can "
                           "write to") from error


def check_request(preset: Preset, seeds: list[int], models: list[str] | None = None, out: Path | None = None,
                  logs: bool = False) -> None:
    """The whole request before anything is created: the seeds, the models, and every folder the run writes (`out`,
    each requested seed's folder, and the logs of seeds run in their own processes) writable; `out` None: no
    folder (a process that writes none)."""
    check_seeds(seeds)
    if models:
        required_models(study_plan(preset), models)
    if out is None:
        return
    out = Path(out)
    _check_writable(out, "--out")
    for seed in seeds:
        _check_writable(records.seed_dir(out, seed), f"seed {seed}'s folder")
    if logs:
        _check_writable(out / "logs", "the logs folder")


def check_recorded(path: Path, record: dict, preset: Preset, ours: dict) -> None:
    """Refuse to add to a record of another schema, study, profile or training settings (`ours`: this run's)."""
    check_schema(path, record)
    if (record["study"], record["profile"]) != (preset.name, preset.profile):
        raise InvalidInput(f"{path.parent.parent} holds {record['study']} [{record['profile']}] "
                           f"({path.parent.name}/{path.name}), not {preset.name} [{preset.profile}]: give each study "
                           "its own --out")
    differ = differing(training_settings(record), ours)
    if differ:
        raise InvalidInput(f"{path} was recorded with other settings ({', '.join(differ)}) than {preset.name} "
                           f"[{preset.profile}]: use another --out, or delete it to retrain")


def check_finished(files: records.ModelFiles, record: dict, log: Callable[[str], None]) -> None:
    """A recorded model's outputs are readable and match their SHA-256; a training state beside them, left by a run
    killed between recording the model and deleting it, is removed unread (it must never seed a retraining)."""
    records.load_outputs(files.logits)
    records.verify(files, "logits", record)
    if files.state.is_file():
        files.state.unlink()
        log(f"removed {files.state}: its model is recorded")


def check_compute_kind(out: Path, seeds: list[int], kind: dict) -> None:
    """Every record and training state of these seeds was computed on this machine's compute `kind` (records and
    states that predate kinds are not refused)."""
    for seed in seeds:
        folder = records.seed_dir(out, seed)
        check_seed_kind(((path, records.load_record(path)) for path in sorted(folder.glob("*.json"))), kind, seed)
        for state in sorted(folder.glob("*.state.pt")):
            check_kind(state, saved_settings(state).get("kind"), kind, seed)


def check_records(out: Path, preset: Preset, recipe: "Recipe", seeds: list[int], log: Callable[[str], None]) -> None:
    """Before the first model trains: every record in `out` is this study's, of this run's settings (a run never adds
    to a folder of other settings), and every recorded model of the requested seeds is intact."""
    ours = run_settings(preset, recipe)
    for path in sorted(Path(out).glob("seed-*/*.json")):
        record = records.load_record(path)
        check_recorded(path, record, preset, ours)
        files = records.model_files(out, record["seed"], record["model"]["name"])
        if record["seed"] in seeds and records.is_finished(files):
            check_finished(files, record, log)
