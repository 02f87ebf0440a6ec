"""The born-again sequence: a teacher from labels, then generations BAN-1..K each taught by the previous one."""

import json
import tempfile
import zlib
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch
from torch import nn

from bannet import data as bdata
from bannet import distributed, files, records
from bannet.losses import build_loss
from bannet.models import build, count_parameters
from bannet.presets import GENERATION_LOSS, Preset
from bannet.errors import InvalidInput
from bannet.precision import resolve_precision
from bannet.provenance import provenance
from bannet.settings import data_root
from bannet.train import EpochMetrics, TrainConfig, TrainResult, evaluate, prepare_model, train_model


@dataclass(frozen=True)
class ModelSpec:
    """One model of a study: its name, architecture, loss, the model that teaches it (None: labels only), whether
    it also distils its teacher's outputs on the unlabelled split, its schedule's length in preset epochs, and the
    model whose training-set confidence sets its label-smoothing mass (loss "ls")."""

    name: str
    arch: str
    loss: str
    teacher: str | None = None
    unlabelled: bool = False
    epochs_factor: int = 1
    smoothing_from: str | None = None


_STUDY_SHAPE_FIELDS = {"description", "generations", "students", "ensemble_of", "paper", "paper_source",
                       "independent_models", "equal_compute", "label_smoothing"}


def study_plan(preset: Preset) -> list[ModelSpec]:
    """Models in training order: teacher, the student architecture from labels when it differs, BAN-1..K, other
    students, then the controls the preset asks for: `ls` (uniform label smoothing with the teacher's mean
    non-top mass), `indep-2..` (label-trained models with their own seeds, for ensembles paired with BANE-k by
    seed), `teacher-2x` (the teacher's schedule stretched to twice the epochs), and `ban-unsup` (BAN on the
    labelled and the unlabelled images)."""
    plan = [ModelSpec("teacher", preset.teacher_arch, "ce")]
    if preset.cross_architecture:
        plan.append(ModelSpec("label", preset.student_arch, "ce"))
    previous = "teacher"
    for k in range(1, preset.generations + 1):
        plan.append(ModelSpec(f"ban-{k}", preset.student_arch, GENERATION_LOSS, previous))
        previous = f"ban-{k}"
    plan += [ModelSpec(loss, preset.student_arch, loss, "teacher") for loss in preset.students]
    if preset.label_smoothing:
        plan.append(ModelSpec("ls", preset.student_arch, "ls", smoothing_from="teacher"))
    plan += [ModelSpec(f"indep-{k}", preset.teacher_arch, "ce") for k in range(2, preset.independent_models + 2)]
    if preset.equal_compute:
        plan.append(ModelSpec("teacher-2x", preset.teacher_arch, "ce", epochs_factor=2))
    if preset.unlabelled:
        plan.append(ModelSpec("ban-unsup", preset.student_arch, GENERATION_LOSS, "teacher", unlabelled=True))
    return plan


def required_models(plan: list[ModelSpec], names: list[str]) -> list[ModelSpec]:
    """The named models of the plan and every model they need (teachers, smoothing sources), in plan order."""
    by_name = {spec.name: spec for spec in plan}
    unknown = [name for name in names if name not in by_name]
    if unknown:
        raise InvalidInput(f"--models {' '.join(unknown)}: not in this study; its models: {', '.join(by_name)}")
    needed, pending = set(), list(names)
    while pending:
        spec = by_name[pending.pop()]
        if spec.name not in needed:
            needed.add(spec.name)
            pending += [name for name in (spec.teacher, spec.smoothing_from) if name]
    return [spec for spec in plan if spec.name in needed]


@dataclass
class StudyData:
    """A study's two splits as uint8 images and int64 labels, with the data set's spec, and the unlabelled
    images (no labels at all) when a model of the study learns from them."""

    spec: bdata.DatasetSpec
    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    unlabelled_images: torch.Tensor | None = None


def _kept(n: int, size: int | None) -> slice | torch.Tensor:
    """The indices of a fixed random subset of n items (the same on every machine), or all when size is None."""
    if size is None or size >= n:
        return slice(None)
    return torch.randperm(n, generator=torch.Generator().manual_seed(0))[:size]


def _subset(images: torch.Tensor, labels: torch.Tensor, size: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    """A fixed random subset of images and their labels, or everything when size is None."""
    keep = _kept(len(labels), size)
    return images[keep], labels[keep]


def _downscaled(images: torch.Tensor, size: int | None) -> torch.Tensor:
    """uint8 images resized to size×size (bilinear with antialiasing) when larger; unchanged otherwise."""
    if size is None or images.shape[-1] <= size:
        return images
    chunks = [nn.functional.interpolate(chunk.float(), size=(size, size), mode="bilinear", antialias=True)
              for chunk in images.split(1024)]  # bounded float copies of the input
    return torch.cat([chunk.round_().clamp_(0, 255).to(torch.uint8) for chunk in chunks])


def _load_unlabelled(preset: Preset, root: str | Path | None, download: bool) -> torch.Tensor:
    """The data set's unlabelled images (ImageWang's unsup/, whose labels are never read), capped at unlabelled_subset."""
    if preset.dataset != "imagewang":
        raise ValueError(f"preset {preset.name!r} asks for unlabelled images, but {preset.dataset} has no "
                         "unlabelled split (only imagewang does: unsup/)")
    folder = bdata.find_imagewang(data_root(root), download)
    images, _ = bdata.load_imagewang_split(folder, "unsup", bdata.DATASETS["imagewang"].image_size)  # labels: None
    return images[_kept(len(images), preset.unlabelled_subset)]


def load_study_data(preset: Preset, root: str | Path | None = None, download: bool = True) -> StudyData:
    """Load the preset's data set, apply its subset sizes and its image-size cap, and the unlabelled split if used."""
    spec = bdata.DATASETS[preset.dataset]
    unlabelled = _load_unlabelled(preset, root, download) if preset.unlabelled else None
    train_images, train_labels = _subset(*bdata.load_split(preset.dataset, True, root, download), preset.train_subset)
    test_images, test_labels = _subset(*bdata.load_split(preset.dataset, False, root, download), preset.test_subset)
    size = preset.max_image_size
    if size is not None and spec.image_size > size:
        spec = replace(spec, image_size=size)
    return StudyData(spec, _downscaled(train_images, size), train_labels, _downscaled(test_images, size), test_labels,
                     None if unlabelled is None else _downscaled(unlabelled, size))


def derived_seed(seed: int, model: str) -> int:
    """A stable per-(seed, model) seed so every model of every seed draws its own numbers."""
    return zlib.crc32(f"{seed}/{model}".encode())


class StudyRunner:
    """Trains the models of a study that are not yet recorded, seed by seed, and records each one.

    Under torchrun every rank runs the same plan data-parallel: the preset's batch is the global batch
    (each rank takes batch / world of it, so the recipe and its lr stay as written); rank 0 alone
    decides what is finished, reads teacher checkpoints (sent to the others), logs and writes records.
    """

    def __init__(self, preset: Preset, out: Path, data: StudyData, device: torch.device, profile: str = "full",
                 progress: bool = True, log: Callable[[str], None] = print,
                 on_epoch: Callable[[ModelSpec, EpochMetrics], None] | None = None, compile: bool = False,
                 precision: str = "auto") -> None:
        self.preset, self.out, self.data, self.device = preset, Path(out), data, device
        self.profile, self.on_epoch = profile, on_epoch
        self.progress = progress and distributed.is_main()
        self.log = log if distributed.is_main() else (lambda _: None)
        self.config = TrainConfig(epochs=preset.epochs, batch_size=preset.batch_size, lr=preset.lr, compile=compile,
                                  precision=precision)
        self.precision = resolve_precision(precision, device)
        self.per_rank_batch = distributed.per_rank_batch(self.config.batch_size)
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
                                  channels_last=self.precision.channels_last)

    def _unlabelled_batches(self, seed: int) -> bdata.EndlessBatches:
        """Endless augmented batches of the unlabelled images (this rank's shard of a fresh permutation per pass)."""
        images = self._unlabelled_on_device
        if images is None:
            raise ValueError(f"preset {self.preset.name!r} has a model that learns from unlabelled images, but the "
                             "StudyData holds none (load it with load_study_data)")
        placeholders = torch.full((len(images),), -1, dtype=torch.int64, device=self.device)  # never read
        return bdata.EndlessBatches(self._device_loader(images, placeholders, True, seed))

    def _new_model(self, arch: str) -> nn.Module:
        return prepare_model(build(arch, self.data.spec.num_classes), self.device, self.config)

    def _load_model(self, seed: int, spec: ModelSpec) -> nn.Module:
        model = self._new_model(spec.arch)
        files = records.model_files(self.out, seed, spec.name)
        model.load_state_dict(distributed.from_main(lambda: records.load_checkpoint(files)))
        return model

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
        if recorded.get("profile") != self.profile:
            differ.insert(0, "profile")
        if differ:
            raise InvalidInput(f"{files.record} was recorded with other settings ({', '.join(differ)}) than "
                             f"{self.preset.name} [{self.profile}]: use another --out, or delete it to retrain")
        return recorded

    @staticmethod
    def _teaches(plan: list[ModelSpec], spec: ModelSpec) -> bool:
        """Whether another model of the plan learns from this one's outputs or confidence."""
        return any(spec.name in (other.teacher, other.smoothing_from) for other in plan)

    def _loss_settings(self, seed: int, spec: ModelSpec, model_seed: int) -> dict:
        """The loss's keyword arguments: DKPP's per-rank seed; for "ls", the smoothing source's non-top mass."""
        if spec.loss == "dkpp":
            return {"seed": distributed.rank_seed(model_seed)}  # own draws per rank
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
        loss_settings = self._loss_settings(seed, spec, model_seed)
        loss_fn = build_loss(spec.loss, **loss_settings)
        config = replace(self.config, epochs=self.config.epochs * spec.epochs_factor)
        callback = (lambda m: self.on_epoch(spec, m)) if self.on_epoch else None
        unlabelled = self._unlabelled_batches(derived_seed(model_seed, "unlabelled")) if spec.unlabelled else None
        if distributed.is_main() and files.state.is_file():
            self.log(f"seed {seed} {spec.name}: resuming from its training state {files.state.name}")
        result = train_model(model, loss_fn, self._loader(True, model_seed), self._loader(False, model_seed),
                             config, self.device, teacher=teacher, progress=self.progress,
                             desc=f"seed {seed} {spec.name}", on_epoch=callback, unlabelled=unlabelled,
                             state_file=files.state if distributed.is_main() else None)
        if distributed.is_main():
            extra = {"loss_settings": {k: v for k, v in loss_settings.items() if k != "seed"}}
            if teaches:
                extra["train_confidence"] = self._train_confidence(model, config)
            self._save(seed, position, spec, model, result, files, config, extra)
        distributed.barrier()  # the other ranks go on once the record is written

    def _train_confidence(self, model: nn.Module, config: TrainConfig) -> dict:
        """The model's mean largest softmax probability and mean non-top mass on the training images, without
        augmentation: what its students learn from."""
        plain = self._device_loader(self._train_on_device, self.data.train_labels.to(self.device), False, 0)
        _, _, logits, _ = evaluate(model, plain, self.device, config)
        top = logits.softmax(1).amax(1).double()
        return {"mean_max_prob": top.mean().item(), "mean_non_top_mass": (1 - top).mean().item(),
                "images": len(top), "augmentation": "none"}

    def _save(self, seed: int, position: int, spec: ModelSpec, model: nn.Module, result: TrainResult,
              files: records.ModelFiles, config: TrainConfig, extra: dict) -> None:
        """Write a trained model's record (with provenance), test logits and checkpoint; rank 0 only."""
        record = {
            "study": self.preset.name, "profile": self.profile, "seed": seed, "model": asdict(spec), "position": position,
            "preset": asdict(self.preset), "train": config.to_dict(), **extra,
            "parallel": {"world_size": distributed.world_size(), "global_batch": self.config.batch_size,
                         "per_rank_batch": self.per_rank_batch, "lr": self.config.lr},
            "data": {"dataset": self.preset.dataset, "train_size": len(self.data.train_labels),
                     "test_size": len(self.data.test_labels), "image_size": self.data.spec.image_size,
                     "unlabelled_size": len(self._unlabelled_on_device) if spec.unlabelled else 0},
            "num_params": count_parameters(model),
            "test_accuracy": result.test_accuracy,
            "test_error_pct": records.error_pct(result.test_logits.argmax(1), result.test_labels),
            "epochs": [asdict(m) for m in result.history],
            "provenance": provenance(self.device, result.wall_time_s, self.precision),
        }
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


def check_out(out: Path, preset: Preset, profile: str) -> None:
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
    records.check_study_folder(out, preset.name, profile)


def run_study(preset: Preset, seeds: list[int], out: Path, device: torch.device, data: StudyData | None = None,
              root: str | Path | None = None, profile: str = "full", progress: bool = True,
              log: Callable[[str], None] = print, compile: bool = False, precision: str = "auto",
              download: bool = True, models: list[str] | None = None) -> Path:
    """Run (or resume) a whole study into `out`, seed after seed; returns `out`. Inputs are checked before training."""
    check_seeds(seeds)
    if models:
        required_models(study_plan(preset), models)  # an unknown name fails before anything loads or trains
    if distributed.is_main():
        check_out(out, preset, profile)
    if data is None:
        with distributed.local_main_first():  # one download per machine
            data = load_study_data(preset, root, download)
    runner = StudyRunner(preset, out, data, device, profile, progress, log, compile=compile, precision=precision)
    for seed in seeds:
        runner.run_seed(seed, models)
    return Path(out)
