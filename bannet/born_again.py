"""The born-again sequence: a teacher from labels, then generations BAN-1..K each taught by the previous one."""

import zlib
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import replace
from pathlib import Path

import torch
from torch import nn

from bannet import distributed, files, locks, preflight, records
from bannet.compute_kind import compute_kind
from bannet.data.study import StudyData, load_study_data
from bannet.errors import InvalidInput
from bannet.final_measures import final_measures
from bannet.label_loss import label_loss_settings
from bannet.losses import LOGIT_ADJUSTED, build_loss
from bannet.models import build, count_parameters, fit_to_training_images, needs_training_images
from bannet.precision import resolve_precision
from bannet.presets import ModelSpec, Preset, required_models, seed_plan, study_plan
from bannet.provenance import provenance
from bannet.recipes import Recipe, recipe_for
from bannet.study_loaders import StudyLoaders
from bannet.study_settings import run_settings
from bannet.train import EpochMetrics, TrainResult, prepare_model, train_model


def derived_seed(seed: int, model: str) -> int:
    """A stable per-(seed, model) seed so every model of every seed draws its own numbers."""
    return zlib.crc32(f"{seed}/{model}".encode())


def teaches(plan: list[ModelSpec], spec: ModelSpec) -> bool:
    """Whether another model of the plan learns from this one's outputs or confidence."""
    return any(spec.name in (other.teacher, other.smoothing_from) for other in plan)


def recorded_loss_settings(out: Path, seed: int, spec: ModelSpec, label_settings: dict) -> dict:
    """The loss's recorded keyword arguments: for "logit-adjusted", the study's `label_settings` (label_loss_settings);
    its temperature when not 1; for "ls", the smoothing source's non-top mass (read from its record, on rank 0)."""
    if spec.loss == LOGIT_ADJUSTED:
        return label_settings
    if spec.temperature != 1.0:
        return {"T": spec.temperature}
    if spec.smoothing_from is not None:
        source = records.model_files(out, seed, spec.smoothing_from).record
        return {"mass": distributed.from_main(
            lambda: records.load_record(source)["train_confidence"]["mean_non_top_mass"])}
    return {}


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
        if preset.holdout_per_class is not None and data.holdout_labels is None:
            raise InvalidInput(f"preset {preset.name} holds out {preset.holdout_per_class} training images per class, "
                               "but the data given has no held-out part: load it with load_study_data")
        self.label_settings = label_loss_settings(preset, data)
        self.loaders = StudyLoaders(data, device, self.config, self.precision)

    def _new_model(self, arch: str, fit: bool = True) -> nn.Module:
        """A freshly initialised model on the device; fitted to the training images when its family needs them."""
        model = prepare_model(build(arch, self.data.spec.num_classes), self.device, self.config)
        if fit and needs_training_images(model):
            fit_to_training_images(model, self.loaders.fitting_images())
        return model

    def _load_model(self, seed: int, spec: ModelSpec) -> nn.Module:
        model = self._new_model(spec.arch, fit=False)  # the checkpoint holds what was fitted
        files = records.model_files(self.out, seed, spec.name)
        model.load_state_dict(distributed.from_main(lambda: records.load_checkpoint(files)))
        return model

    def run_seed(self, seed: int, models: list[str] | None = None) -> None:
        """Train every unfinished model of one seed in plan order: `models` and what they need when given, else what
        the design trains on this seed (seed_plan); finished ones are never retrained."""
        plan = study_plan(self.preset)
        by_name = {spec.name: spec for spec in plan}
        wanted = {spec.name for spec in (required_models(plan, models) if models else seed_plan(self.preset, seed))}
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
            self._train_one(seed, position, spec, teacher, model_files, teaches=teaches(plan, spec))

    def _finished_models(self, seed: int, plan: list[ModelSpec]) -> set[str]:
        """The models of the plan already recorded for this seed, each checked to share this run's settings and to
        have its outputs intact (the training state a killed run left beside one is removed)."""
        ours = run_settings(self.preset, self.config)
        finished = set()
        for spec in plan:
            model_files = records.model_files(self.out, seed, spec.name)
            if records.is_finished(model_files):
                recorded = records.load_record(model_files.record)
                preflight.check_recorded(model_files.record, recorded, self.preset, ours)
                preflight.check_finished(model_files, recorded, self.log)
                finished.add(spec.name)
        return finished

    def _train_one(self, seed: int, position: int, spec: ModelSpec, teacher: nn.Module | None,
                   files: records.ModelFiles, teaches: bool = False) -> None:
        model_seed = derived_seed(seed, spec.name)
        torch.manual_seed(model_seed)
        model = self._new_model(spec.arch)
        loss_settings = recorded_loss_settings(self.out, seed, spec, self.label_settings)
        loss_fn = build_loss(spec.loss, **loss_settings, **distributed.loss_settings(spec.loss, model_seed))
        config = replace(self.config, epochs=self.config.epochs * spec.epochs_factor,
                         lr=self.config.lr * spec.lr_factor)
        callback = (lambda m: self.on_epoch(spec, m)) if self.on_epoch else None
        unlabelled = (self.loaders.unlabelled_batches(derived_seed(model_seed, "unlabelled")) if spec.unlabelled
                      else None)
        if distributed.is_main() and files.state.is_file():
            self.log(f"seed {seed} {spec.name}: resuming from its training state {files.state.name}")
        result = train_model(model, loss_fn, self.loaders.train(model_seed), self.loaders.test(),
                             config, self.device, teacher=teacher, progress=self.progress,
                             desc=f"seed {seed} {spec.name}", on_epoch=callback, unlabelled=unlabelled,
                             state_file=files.state if distributed.is_main() else None)
        if distributed.is_main():
            self._save(seed, position, spec, model, result, files, config, loss_settings,
                       final_measures(model, self.loaders, config, teaches))
        distributed.barrier()  # the other ranks go on once the record is written

    def _save(self, seed: int, position: int, spec: ModelSpec, model: nn.Module, result: TrainResult,
              files: records.ModelFiles, config: Recipe, loss_settings: dict, measured: dict) -> None:
        """Write a trained model's record (with provenance), test logits and checkpoint; rank 0 only."""
        record = records.new_record(
            preset=self.preset, seed=seed, model=spec, position=position, train=config, loss_settings=loss_settings,
            measured=measured,
            parallel={"world_size": distributed.world_size(), "global_batch": self.config.batch_size,
                      "per_rank_batch": self.loaders.per_rank_batch, "lr": self.config.lr},
            data={"dataset": self.preset.dataset, "train_size": len(self.data.train_labels),
                  "test_size": len(self.data.test_labels), "image_size": self.data.spec.image_size,
                  "unlabelled_size": self.loaders.unlabelled_size if spec.unlabelled else 0,
                  "holdout_size": 0 if self.data.holdout_labels is None else len(self.data.holdout_labels)},
            num_params=count_parameters(model), result=result,
            provenance=provenance(self.device, result.wall_time_s, self.precision, result.cpu_time_s, kind=self.kind))
        records.save_model(files, record, result.test_logits, result.test_labels,
                           self.precision.storable_state_dict(model))
        self.log(f"seed {seed} {spec.name}: test error {record['test_error_pct']:.2f}% ({result.wall_time_s:.1f} s)")


def run_study(preset: Preset, seeds: list[int], out: Path, device: torch.device, data: StudyData | None = None,
              root: str | Path | None = None, progress: bool = True,
              log: Callable[[str], None] = print, compile: bool = False, precision: str = "auto",
              download: bool = True, models: list[str] | None = None) -> Path:
    """Run (or resume) a whole study into `out`, seed after seed; returns `out`. The request and every record it adds
    to are checked before anything trains, and no other run may write to `out` meanwhile."""
    main = distributed.is_main()  # rank 0 alone reads and writes the folder
    preflight.check_request(preset, seeds, models, out if main else None)
    with locks.study_lock(out) if main else nullcontext():
        if main:
            preflight.check_records(out, preset, recipe_for(preset, precision, compile), seeds, log)
        if data is None:
            with distributed.local_main_first():  # one download per machine
                data = load_study_data(preset, root, download)
        runner = StudyRunner(preset, out, data, device, progress, log, compile=compile, precision=precision)
        if main:
            preflight.check_compute_kind(out, seeds, runner.kind)
        for seed in seeds:
            with locks.seed_lock(out, seed) if main else nullcontext():
                runner.run_seed(seed, models)
    return Path(out)
