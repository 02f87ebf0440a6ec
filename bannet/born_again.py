"""The born-again sequence: a teacher from labels, then generations BAN-1..K each taught by the previous one."""

import json
import tempfile
import zlib
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path

import torch
from torch import nn

from bannet import data as bdata
from bannet import distributed, files, records
from bannet.compute_kind import check_kind, check_seed_kind, compute_kind
from bannet.data.study import StudyData, load_study_data
from bannet.errors import InvalidInput
from bannet.losses import build_loss
from bannet.models import FIT_IMAGES, build, count_parameters, fit_to_training_images, needs_training_images
from bannet.precision import resolve_precision
from bannet.presets import ModelSpec, Preset, required_models, study_plan
from bannet.provenance import provenance
from bannet.recipes import Recipe, recipe_for
from bannet.train import EpochMetrics, TrainResult, evaluate, prepare_model, train_model, tta_probabilities
from bannet.training_state import saved_settings

# Preset fields that only add models or describe the study: a resumed study may change them. The profile is
# compared on its own (the record's top-level "profile").
_STUDY_SHAPE_FIELDS = {"description", "generations", "students", "ensemble_of", "paper", "paper_source", "paper_epochs",
                       "independent_models", "equal_compute", "label_smoothing", "temperatures", "seeds",
                       "budget_hours", "profile"}


def derived_seed(seed: int, model: str) -> int:
    """A stable per-(seed, model) seed so every model of every seed draws its own numbers."""
    return zlib.crc32(f"{seed}/{model}".encode())


def check_one_batch(data: StudyData, batch_size: int) -> None:
    """Before any training: the training split, and the unlabelled one when loaded, hold at least one batch
    (training drops the last partial batch, so a smaller split would train on nothing)."""
    unlabelled = None if data.unlabelled_images is None else len(data.unlabelled_images)
    for split, count in (("training", len(data.train_labels)), ("unlabelled", unlabelled)):
        if count is not None and count < batch_size:
            raise InvalidInput(f"the {split} split has {count} images, fewer than one batch of {batch_size}: "
                               "give the study more images or a smaller batch size")


class StudyRunner:
    """Trains the models of a study that are not yet recorded, seed by seed, and records each one.

    Under torchrun every rank runs the same plan data-parallel: the preset's batch is the global batch
    (each rank takes batch / world of it, so the recipe and its lr stay as written); rank 0 alone
    decides what is finished, reads teacher checkpoints (sent to the others), logs and writes records.
    """

    def __init__(self, preset: Preset, out: Path, data: StudyData, device: torch.device, progress: bool = True,
                 log: Callable[[str], None] = print, on_epoch: Callable[[ModelSpec, EpochMetrics], None] | None = None,
                 compile: bool = False, precision: str = "auto") -> None:
        self.preset, self.out, self.data, self.device = preset, Path(out), data, device
        self.on_epoch = on_epoch
        self.progress = progress and distributed.is_main()
        self.log = log if distributed.is_main() else (lambda _: None)
        self.config = recipe_for(preset, precision, compile)
        self.precision = resolve_precision(precision, device)
        self.kind = compute_kind(device, self.precision, compile)
        self.per_rank_batch = distributed.per_rank_batch(self.config.batch_size)
        check_one_batch(data, self.config.batch_size)
        self._train_on_device = data.train_images.to(device)
        self._test_on_device = data.test_images.to(device)
        unlabelled = data.unlabelled_images
        self._unlabelled_on_device = unlabelled.to(device) if unlabelled is not None else None

    def _loader(self, train: bool, seed: int) -> bdata.DeviceLoader:
        images, labels = ((self._train_on_device, self.data.train_labels) if train
                          else (self._test_on_device, self.data.test_labels))
        return self._device_loader(images, labels.to(self.device), train, seed)

    def _device_loader(self, images: torch.Tensor, labels: torch.Tensor, train: bool, seed: int) -> bdata.DeviceLoader:
        batch, rank, world = ((self.per_rank_batch, distributed.rank(), distributed.world_size()) if train
                              else (self.config.batch_size, 0, 1))  # rank 0 evaluates the whole test set
        return bdata.DeviceLoader(images, labels, self.data.spec, batch, train, self.device,
                                  generator=torch.Generator().manual_seed(seed), rank=rank, world_size=world,
                                  channels_last=self.precision.channels_last,
                                  augmentation=self.config.augmentation(self.data.spec) if train else None)

    def _plain_train_loader(self, count: int | None = None) -> bdata.DeviceLoader:
        """The first `count` training images (all when None) in stored order, normalised, not augmented."""
        return self._device_loader(self._train_on_device[:count], self.data.train_labels[:count].to(self.device),
                                   False, 0)

    def _unlabelled_batches(self, seed: int) -> bdata.EndlessBatches:
        """Endless augmented batches of the unlabelled images (this rank's shard of a fresh permutation per pass)."""
        images = self._unlabelled_on_device
        if images is None:
            raise ValueError(f"preset {self.preset.name!r} has a model that learns from unlabelled images, but the "
                             "StudyData holds none (load it with load_study_data)")
        placeholders = torch.full((len(images),), -1, dtype=torch.int64, device=self.device)  # never read
        return bdata.EndlessBatches(self._device_loader(images, placeholders, True, seed))

    def _new_model(self, arch: str, fit: bool = True) -> nn.Module:
        """A freshly initialised model on the device; fitted to the training images when its family needs them."""
        model = prepare_model(build(arch, self.data.spec.num_classes), self.device, self.config)
        if fit and needs_training_images(model):
            fit_to_training_images(model, torch.cat([x for x, _ in self._plain_train_loader(FIT_IMAGES)]))
        return model

    def _load_model(self, seed: int, spec: ModelSpec) -> nn.Module:
        model = self._new_model(spec.arch, fit=False)  # the checkpoint holds what was fitted
        files = records.model_files(self.out, seed, spec.name)
        model.load_state_dict(distributed.from_main(lambda: records.load_checkpoint(files)))
        return model

    def check_kind(self, seeds: list[int]) -> None:
        """Before any training: every record and training state of these seeds was computed on this machine's kind
        (records and states that predate kinds are not refused)."""
        for seed in seeds:
            folder = records.seed_dir(self.out, seed)
            check_seed_kind(((path, records.load_record(path)) for path in sorted(folder.glob("*.json"))),
                            self.kind, seed)
            for state in sorted(folder.glob("*.state.pt")):
                check_kind(state, saved_settings(state).get("kind"), self.kind, seed)

    def run_seed(self, seed: int, models: list[str] | None = None) -> None:
        """Train every unfinished model of one seed in plan order (only `models` and what they need, when given);
        finished ones are never retrained."""
        plan = study_plan(self.preset)
        by_name = {spec.name: spec for spec in plan}
        wanted = {spec.name for spec in required_models(plan, models)} if models else set(by_name)
        if distributed.is_main():
            for stale in files.remove_stale_temporaries(records.seed_dir(self.out, seed)):
                self.log(f"seed {seed}: removed {stale.name}, left by a run killed while writing")
        finished = distributed.from_main(lambda: self._finished_models(seed, plan))  # all checked before training
        for position, spec in enumerate(plan):
            model_files = records.model_files(self.out, seed, spec.name)
            if spec.name in finished:
                self.log(f"seed {seed} {spec.name}: recorded, skipped")
                continue
            if spec.name not in wanted:
                continue
            teacher = self._load_model(seed, by_name[spec.teacher]) if spec.teacher else None
            self._train_one(seed, position, spec, teacher, model_files, teaches=self._teaches(plan, spec))

    def _finished_models(self, seed: int, plan: list[ModelSpec]) -> set[str]:
        """The models of the plan already recorded for this seed, each checked to share this run's settings and to
        have its outputs intact."""
        finished = set()
        for spec in plan:
            model_files = records.model_files(self.out, seed, spec.name)
            if records.is_finished(model_files):
                recorded = self._check_same_settings(model_files)
                records.load_outputs(model_files.logits)
                records.verify(model_files, "logits", recorded)
                finished.add(spec.name)
        return finished

    def _check_same_settings(self, files: records.ModelFiles) -> dict:
        """The model's record; refused when trained with other settings: the profile, or a preset field that shapes
        training (fields that only add models or describe the study, such as generations, may change)."""
        recorded = records.load_record(files.record)
        ours = json.loads(json.dumps(asdict(self.preset)))
        theirs = recorded.get("preset", {})
        differ = sorted(k for k in ours.keys() & theirs.keys() - _STUDY_SHAPE_FIELDS if ours[k] != theirs[k])
        if recorded.get("profile") != self.preset.profile:
            differ.insert(0, "profile")
        if differ:
            raise InvalidInput(f"{files.record} was recorded with other settings ({', '.join(differ)}) than "
                             f"{self.preset.name} [{self.preset.profile}]: use another --out, or delete it to retrain")
        return recorded

    @staticmethod
    def _teaches(plan: list[ModelSpec], spec: ModelSpec) -> bool:
        """Whether another model of the plan learns from this one's outputs or confidence."""
        return any(spec.name in (other.teacher, other.smoothing_from) for other in plan)

    def _loss_settings(self, seed: int, spec: ModelSpec) -> dict:
        """The loss's recorded keyword arguments: its temperature when not 1; for "ls", the smoothing source's
        non-top mass."""
        if spec.temperature != 1.0:
            return {"T": spec.temperature}
        if spec.smoothing_from is not None:
            source = records.model_files(self.out, seed, spec.smoothing_from).record
            return {"mass": distributed.from_main(
                lambda: records.load_record(source)["train_confidence"]["mean_non_top_mass"])}
        return {}

    def _train_one(self, seed: int, position: int, spec: ModelSpec, teacher: nn.Module | None,
                   files: records.ModelFiles, teaches: bool = False) -> None:
        model_seed = derived_seed(seed, spec.name)
        torch.manual_seed(model_seed)
        model = self._new_model(spec.arch)
        loss_settings = self._loss_settings(seed, spec)
        loss_fn = build_loss(spec.loss, **loss_settings, **distributed.loss_settings(spec.loss, model_seed))
        config = replace(self.config, epochs=self.config.epochs * spec.epochs_factor,
                         lr=self.config.lr * spec.lr_factor)
        callback = (lambda m: self.on_epoch(spec, m)) if self.on_epoch else None
        unlabelled = self._unlabelled_batches(derived_seed(model_seed, "unlabelled")) if spec.unlabelled else None
        if distributed.is_main() and files.state.is_file():
            self.log(f"seed {seed} {spec.name}: resuming from its training state {files.state.name}")
        result = train_model(model, loss_fn, self._loader(True, model_seed), self._loader(False, model_seed),
                             config, self.device, teacher=teacher, progress=self.progress,
                             desc=f"seed {seed} {spec.name}", on_epoch=callback, unlabelled=unlabelled,
                             state_file=files.state if distributed.is_main() else None)
        if distributed.is_main():
            self._save(seed, position, spec, model, result, files, config, loss_settings,
                       self._final_evaluation(model, config, teaches))
        distributed.barrier()  # the other ranks go on once the record is written

    def _final_evaluation(self, model: nn.Module, config: Recipe, teaches: bool) -> dict:
        """What the finished model is measured on besides its plain test logits: its error on the un-augmented
        training images (which regime it is in), their mean largest softmax probability and non-top mass when it
        teaches (what its students learn from), and the test error under the recipe's test-time augmentation."""
        _, accuracy, logits, _ = evaluate(model, self._plain_train_loader(), self.device, config)
        measured: dict = {"train_error_plain_pct": 100.0 * (1.0 - accuracy)}
        if teaches:
            top = logits.softmax(1).amax(1).double()
            measured["train_confidence"] = {"mean_max_prob": top.mean().item(),
                                            "mean_non_top_mass": (1 - top).mean().item(),
                                            "images": len(top), "augmentation": "none"}
        if config.tta_views:
            test = self._loader(False, 0)
            predictions = tta_probabilities(model, test, self.device, config).argmax(1)
            measured["test_error_tta_pct"] = records.error_pct(predictions, self.data.test_labels)
            measured["tta"] = {"views": ["plain", *config.tta_views], "combined": "mean of the views' softmax"}
        return measured

    def _save(self, seed: int, position: int, spec: ModelSpec, model: nn.Module, result: TrainResult,
              files: records.ModelFiles, config: Recipe, loss_settings: dict, measured: dict) -> None:
        """Write a trained model's record (with provenance), test logits and checkpoint; rank 0 only."""
        record = records.new_record(
            preset=self.preset, seed=seed, model=spec, position=position, train=config, loss_settings=loss_settings,
            measured=measured,
            parallel={"world_size": distributed.world_size(), "global_batch": self.config.batch_size,
                      "per_rank_batch": self.per_rank_batch, "lr": self.config.lr},
            data={"dataset": self.preset.dataset, "train_size": len(self.data.train_labels),
                  "test_size": len(self.data.test_labels), "image_size": self.data.spec.image_size,
                  "unlabelled_size": len(self._unlabelled_on_device) if spec.unlabelled else 0},
            num_params=count_parameters(model), result=result,
            provenance=provenance(self.device, result.wall_time_s, self.precision, result.cpu_time_s, kind=self.kind))
        records.save_model(files, record, result.test_logits, result.test_labels,
                           self.precision.storable_state_dict(model))
        self.log(f"seed {seed} {spec.name}: test error {record['test_error_pct']:.2f}% ({result.wall_time_s:.1f} s)")


def check_seeds(seeds: list[int]) -> list[int]:
    """`seeds` when there is at least one and they are distinct non-negative integers; a one-line error otherwise."""
    if not seeds:
        raise InvalidInput("give at least one seed")
    if any(seed < 0 for seed in seeds):
        raise InvalidInput(f"seeds must be >= 0 (a study folder names them seed-<k>), got {seeds}")
    if len(set(seeds)) != len(seeds):
        raise InvalidInput(f"seeds must be distinct, got {seeds}")
    return seeds


def check_out(out: Path, preset: Preset) -> None:
    """Before any training: `out` is (or can be made) a writable folder holding no other study's records."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InvalidInput(f"--out {out} is a file, not a folder: give a folder for the study's records")
    try:
        out.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=out).close()
    except OSError as error:
        raise InvalidInput(f"--out {out} is not writable ({error.strerror or error}): give a folder you can write to") \
            from error
    records.check_study_folder(out, preset.name, preset.profile)


def run_study(preset: Preset, seeds: list[int], out: Path, device: torch.device, data: StudyData | None = None,
              root: str | Path | None = None, progress: bool = True,
              log: Callable[[str], None] = print, compile: bool = False, precision: str = "auto",
              download: bool = True, models: list[str] | None = None) -> Path:
    """Run (or resume) a whole study into `out`, seed after seed; returns `out`. Inputs are checked before training."""
    check_seeds(seeds)
    if models:
        required_models(study_plan(preset), models)  # an unknown name fails before anything loads or trains
    if distributed.is_main():
        check_out(out, preset)
    if data is None:
        with distributed.local_main_first():  # one download per machine
            data = load_study_data(preset, root, download)
    runner = StudyRunner(preset, out, data, device, progress, log, compile=compile, precision=precision)
    if distributed.is_main():
        runner.check_kind(seeds)
    for seed in seeds:
        runner.run_seed(seed, models)
    return Path(out)
