"""Named experiments with the paper's settings, the profiles that shrink them, and the plan of models each trains."""

from dataclasses import dataclass, field, replace

from bannet import row_names
from bannet.errors import InvalidInput
from bannet.losses import LOGIT_ADJUSTED
from bannet.models.names import small_sibling
from bannet.profiles import PROFILES

GENERATION_LOSS = "ban"


def control_model(teacher_arch: str, student_arch: str) -> str:
    """The label-trained model of the students' architecture, the baseline of paired differences: the teacher,
    or `label` when the students have another architecture."""
    return "teacher" if teacher_arch == student_arch else "label"


@dataclass(frozen=True)
class Preset:
    """One study: a label-trained teacher, born-again generations and students of the teacher.

    unlabelled: add `ban-unsup`, a BAN student of the teacher that also distils the teacher's outputs on
    the data set's unlabelled split (capped at unlabelled_subset images). max_image_size: images with a
    larger side are downscaled to it when loaded. ensemble_of: k for the report's `ens{k}-<model>` rows
    (the students and the label-trained control, each averaged over k consecutive seeds).

    Controls: independent_models = m adds `indep-2..m+1`, label-trained in the control model's architecture with
    their own seeds, so that ens-k(seed) = {control, indep-2..k} pairs with BANE-k of the same seed;
    equal_compute adds `teacher-2x` (twice the epochs, the same schedule stretched: as much training as teacher +
    BAN-1); label_smoothing adds `ls`, a student of labels smoothed uniformly with the teacher's mean non-top
    probability on the training set; temperatures adds `ban-1-t<T>` for each T, a BAN student of the teacher
    whose teacher and student distributions are softmax(·/T) (the paper uses T = 1), trained at the preset's
    learning rate / T (see study_plan); same_family, in a cross-architecture study, adds `ban-1-same`, the BAN student
    of `label` (the students' family teaching itself), so that a teacher of the other family is tested against one of
    the student's own family as `ban-1` − `ban-1-same`, paired by seed: the difference of the two gains over `label`.
    paper, paper_source, paper_epochs: the paper's single-run test errors (%) beside ours, the table they come from
    and how many epochs the paper trained its models for. seeds: the seeds a full run records with every model of the
    plan. primary_seeds: further seeds on which only the primary comparison trains (primary_plan), so that the
    comparison the chapter tests alone gets the seeds it needs to resolve a small difference without the whole plan on
    each. budget_hours: the training wall time, in hours summed over the study's records, that the study was planned
    within (None: none set); what it cost is counted in CPU-hours (bannet.cost).
    profile: the profile that shrank the preset ("full": as written). recipe: how every model of the study learns
    (bannet.recipes.RECIPES: "wrn-step", the paper's; "airbench[-lookahead]", the fast one), at its epochs, batch, lr.

    Imbalanced classes: logit_adjustment = τ > 0 trains every label-trained model (teacher, `label`, `indep-k`,
    `teacher-2x`) with the logit-adjusted loss (bannet.losses.logit_adjusted, Menon et al. 2021) at strength τ and the
    class priors of the study's training labels (recorded in each record's loss_settings); 0 trains them with plain
    cross-entropy, the paper's. Predictions are always the argmax of the raw logits, and students learn from their
    teacher's softmax of its raw logits; the label terms of BAN+L and CWTM and the `ls` control keep their formulas.
    holdout_per_class: that many labelled training images of each class are set aside (bannet.data.holdout: the
    same images for every model and seed) and never trained on; each record then holds the held-out error, on
    which a pilot selects (never on the test set). None: every training image is trained on.
    """

    name: str
    dataset: str
    teacher_arch: str
    student_arch: str
    epochs: int
    description: str
    generations: int = 3
    students: tuple[str, ...] = ("ban+l", "cwtm", "dkpp")
    batch_size: int = 128
    lr: float = 0.1
    recipe: str = "wrn-step"
    train_subset: int | None = None
    test_subset: int | None = None
    unlabelled: bool = False
    unlabelled_subset: int | None = None
    max_image_size: int | None = None
    ensemble_of: int | None = None
    independent_models: int = 0
    same_family: bool = False
    equal_compute: bool = False
    label_smoothing: bool = False
    temperatures: tuple[float, ...] = ()
    paper: dict[str, float] = field(default_factory=dict)
    paper_source: str = ""
    paper_epochs: int | None = None
    seeds: tuple[int, ...] = (0, 1, 2)
    primary_seeds: tuple[int, ...] = ()
    primary_models: tuple[str, ...] = (row_names.generation(1),)
    budget_hours: float | None = None
    logit_adjustment: float = 0.0
    holdout_per_class: int | None = None
    profile: str = "full"

    @property
    def cross_architecture(self) -> bool:
        """True when the students differ in architecture from the teacher."""
        return self.teacher_arch != self.student_arch

    @property
    def control_model(self) -> str:
        """The label-trained model of the students' architecture, the baseline of paired differences."""
        return control_model(self.teacher_arch, self.student_arch)

    @property
    def label_loss(self) -> str:
        """The loss of the models trained on labels: "ce" when logit_adjustment is 0, else "logit-adjusted"."""
        return "ce" if self.logit_adjustment == 0 else LOGIT_ADJUSTED

    @property
    def design_seeds(self) -> tuple[int, ...]:
        """Every seed a full run records: those with the whole plan, then the primary comparison's."""
        return self.seeds + self.primary_seeds

    @property
    def folder_name(self) -> str:
        """The study folder's name: the preset's, with the profile appended when it is not "full"."""
        return self.name if self.profile == "full" else f"{self.name}-{self.profile}"


_TABLE1 = "Furlanello et al. 2018, Table 1 (CIFAR-10 test error %, single runs)"
_TABLE2 = "Furlanello et al. 2018, Table 2 (CIFAR-100 test error %, DenseNet-112-33, single runs)"
_TABLE2_PAPER = {"teacher": 18.25, "ban-1": 16.95, "ban+l": 17.68, "cwtm": 17.84, "dkpp": 17.84,
                 "ban-2": 17.22, "ban-3": 16.59, "bane-2": 15.77, "bane-3": 15.68}

PRESETS: dict[str, Preset] = {p.name: p for p in [
    Preset("mnist-mlp", "mnist", "mlp", "mlp", epochs=6,
           description="MNIST, 784-800-800-10 MLP teacher and born-again MLP students; BAN students at T = 2 and 4, "
                       "and the controls: independent ensembles paired by seed, a teacher with twice the epochs, "
                       "label smoothing",
           independent_models=2, equal_compute=True, label_smoothing=True, temperatures=(2.0, 4.0),
           seeds=(0, 1, 2, 3, 4)),
    Preset("mnist-mlp-20ep", "mnist", "mlp", "mlp", epochs=20,
           description="MNIST, the MLP study trained longer: 20 epochs per model, three generations and a teacher "
                       "with twice the epochs",
           students=(), equal_compute=True, seeds=(0, 1, 2, 3, 4)),
    Preset("cifar10-wrn-28-1", "cifar10", "wrn-28-1", "wrn-28-1", epochs=200,
           description="CIFAR-10, WRN-28-1 (paper Table 1)",
           paper={"teacher": 6.69, "ban-1": 6.64}, paper_source=_TABLE1, paper_epochs=200),
    Preset("cifar10-wrn-28-1-11ep", "cifar10", "wrn-28-1", "wrn-28-1", epochs=11,
           description="CIFAR-10 at laptop scale: WRN-28-1, 11 epochs (the paper: 200); teacher and BAN-1 on eight "
                       "seeds, two generations and the controls: an independent ensemble of two paired by seed and a "
                       "teacher with twice the epochs",
           generations=2, students=(), independent_models=1, equal_compute=True, budget_hours=6,
           primary_seeds=(3, 4, 5, 6, 7),
           paper={"teacher": 6.69, "ban-1": 6.64}, paper_source=_TABLE1, paper_epochs=200),
    Preset("cifar10-wrn-28-2", "cifar10", "wrn-28-2", "wrn-28-2", epochs=200,
           description="CIFAR-10, WRN-28-2 (paper Table 1)",
           paper={"teacher": 5.06, "ban-1": 4.86}, paper_source=_TABLE1, paper_epochs=200),
    Preset("cifar100-wrn-28-2", "cifar100", "wrn-28-2", "wrn-28-2", epochs=200,
           description="CIFAR-100, WRN-28-2: BAN, BAN+L, CWTM, DKPP and three generations"),
    Preset("cifar100-densenet-112-33", "cifar100", "densenet-112-33", "densenet-112-33", epochs=300,
           description="CIFAR-100, DenseNet-BC-112-33 (paper Table 2)",
           paper=_TABLE2_PAPER, paper_epochs=300,
           paper_source=_TABLE2 + "; its generation column gives BAN-1 as 17.61, its loss column 16.95"),
    Preset("cifar100-wrn-16-2-9ep", "cifar100", "wrn-16-2", "wrn-16-2", epochs=9,
           description="CIFAR-100 at laptop scale: WRN-16-2, 9 epochs (the paper: DenseNet-BC-112-33, 300 epochs); "
                       "three generations, BAN+L, CWTM, DKPP and the controls: independent ensembles paired by seed, "
                       "a teacher with twice the epochs, label smoothing",
           independent_models=2, equal_compute=True, label_smoothing=True, budget_hours=8, primary_seeds=(3, 4),
           paper=_TABLE2_PAPER, paper_source=_TABLE2, paper_epochs=300),
    Preset("cifar10-airbench", "cifar10", "airbench-64-256-256", "airbench-64-256-256", epochs=15,
           description="CIFAR-10 in the converged regime: airbench94's network (64-256-256) and Jordan's fast recipe "
                       "(2024) with its lookahead, 15 epochs, batch 1000, hard labels; students keep the teacher's "
                       "recipe and learn from its softmax at T = 1 with no label term; teacher and BAN-1 on 20 seeds, "
                       "and on 5 of them two generations, BAN+L, CWTM, DKPP and the controls: an independent model "
                       "paired by seed, a teacher with twice the epochs, label smoothing",
           generations=2, batch_size=1000, lr=5.0, recipe="airbench-lookahead", independent_models=1,
           equal_compute=True, label_smoothing=True, seeds=tuple(range(5)), primary_seeds=tuple(range(5, 20)),
           paper={"teacher": 6.69, "ban-1": 6.64}, paper_source=_TABLE1 + " (WRN-28-1)", paper_epochs=200),
    Preset("cifar100-airbench", "cifar100", "airbench-128-384-384", "airbench-128-384-384", epochs=10,
           description="CIFAR-100 in the converged regime: a wider airbench network (128-384-384) and Jordan's fast "
                       "recipe (2024) with its lookahead, 10 epochs, batch 1000, hard labels; students keep the "
                       "teacher's recipe and learn from its softmax at T = 1; teacher and three generations on 8 "
                       "seeds, and on 4 of them BAN+L, CWTM, DKPP and the controls: independent ensembles paired by "
                       "seed, a teacher with twice the epochs, label smoothing",
           batch_size=1000, lr=5.0, recipe="airbench-lookahead", independent_models=2, equal_compute=True,
           label_smoothing=True, seeds=tuple(range(4)), primary_seeds=tuple(range(4, 8)), primary_models=("ban-3",),
           paper=_TABLE2_PAPER, paper_epochs=300,
           paper_source=_TABLE2 + "; its generation column gives BAN-1 as 17.61, its loss column 16.95"),
    Preset("cifar100-densenet-112-33-to-wrn-28-2", "cifar100", "densenet-112-33", "wrn-28-2", epochs=200,
           description="CIFAR-100 cross-architecture: DenseNet-BC-112-33 teacher, WRN-28-2 students",
           generations=1, students=()),
    Preset("cifar100-wrn-28-2-to-densenet-112-33", "cifar100", "wrn-28-2", "densenet-112-33", epochs=200,
           description="CIFAR-100 cross-architecture: WRN-28-2 teacher, DenseNet-BC-112-33 students",
           generations=1, students=()),
    Preset("imagewang-densenet121-resnet18", "imagewang", "densenet121", "resnet18", epochs=20,
           description="ImageWang 128 px: DenseNet-121 teacher, ResNet-18 students",
           generations=1, students=("cwtm", "dkpp"), batch_size=64, unlabelled=True, ensemble_of=4,
           seeds=(0, 1, 2, 3)),
    Preset("imagewang-densenet121-resnet18-64px-9ep", "imagewang", "densenet121", "resnet18", epochs=9,
           description="ImageWang at laptop scale: 64 px, 9 epochs (the full-size preset: 128 px, 20 epochs); "
                       "DenseNet-121 teacher, ResNet-18 from labels, BAN, CWTM and DKPP students, a BAN student that "
                       "also learns from the unlabelled images, ensembles of four seeds",
           generations=1, students=("cwtm", "dkpp"), batch_size=64, unlabelled=True, ensemble_of=4,
           max_image_size=64, seeds=(0, 1, 2, 3), budget_hours=8),
    Preset("imagewang-balanced-densenet121-resnet18", "imagewang", "densenet121", "resnet18", epochs=12,
           description="ImageWang trained on its imbalance (about 1,340 training images per Imagenette class, 127 per "
                       "dog breed): the DenseNet-121 teacher and the ResNet-18 from labels learn with logit-adjusted "
                       "cross-entropy (tau = 1, fixed in advance; priors of the training labels) and predict by their "
                       "raw logits; 20 training images per class are held out for pilots to select on; BAN and DKPP "
                       "students learn from the teacher's softmax of its raw logits, CWTM from the labels weighted by "
                       "the teacher's confidence (its label term unadjusted, the paper's); ban-unsup also distils the "
                       "teacher's outputs on the unlabelled images (no labels, so not balanced), its only noise the "
                       "training augmentation (random-resized crop and flip), the same view the teacher sees; "
                       "ensembles of four seeds; 96 px and 12 epochs are PROVISIONAL until the pilot table of "
                       "benchmarks/imagewang_pilot.py chooses them",
           generations=1, students=("cwtm", "dkpp"), batch_size=64, unlabelled=True, ensemble_of=4,
           max_image_size=96, seeds=(0, 1, 2, 3), logit_adjustment=1.0, holdout_per_class=20),
]}


def get_preset(name: str, profile: str = "full") -> Preset:
    """The named preset, shrunk by the named profile."""
    if name not in PRESETS:
        raise InvalidInput(f"unknown preset {name!r}; choose one of: {', '.join(PRESETS)}")
    if profile not in PROFILES:
        raise InvalidInput(f"unknown profile {profile!r}; choose one of: {', '.join(PROFILES)}")
    preset, prof = PRESETS[name], PROFILES[profile]
    shrunk = ("epochs", "train_subset", "test_subset", "unlabelled_subset", "max_image_size", "batch_size")
    changes: dict = {k: getattr(prof, k) for k in shrunk if getattr(prof, k) is not None}
    if prof.shrink_arch:
        changes |= {"teacher_arch": small_sibling(preset.teacher_arch),
                    "student_arch": small_sibling(preset.student_arch)}
    return replace(preset, profile=profile, **changes)


@dataclass(frozen=True)
class ModelSpec:
    """One model of a study: its name, architecture, loss, the model that teaches it (None: labels only), whether
    it also distils its teacher's outputs on the unlabelled split, its schedule's length in preset epochs, the
    model whose training-set confidence sets its label-smoothing mass (loss "ls"), its loss's temperature, and the
    factor on the preset's learning rate it trains with."""

    name: str
    arch: str
    loss: str
    teacher: str | None = None
    unlabelled: bool = False
    epochs_factor: int = 1
    smoothing_from: str | None = None
    temperature: float = 1.0
    lr_factor: float = 1.0


def study_plan(preset: Preset) -> list[ModelSpec]:
    """Models in training order: teacher, the student architecture from labels when it differs, BAN-1..K, other
    students, BAN students of the teacher at other temperatures (`ban-1-t<T>`), then the controls the preset asks
    for: `ls` (uniform label smoothing with the teacher's mean non-top mass), `indep-2..` (label-trained models with
    their own seeds, for ensembles paired with BANE-k by seed), `teacher-2x` (the teacher's schedule stretched to
    twice the epochs), `ban-unsup` (BAN on the labelled and the unlabelled images) and `ban-1-same` (BAN of `label`).
    The models trained on labels learn with the preset's label_loss.

    A `ban-1-t<T>` student trains at the learning rate / T: the gradient of the T²-scaled soft loss with respect to
    the student's logits is T·(q_T − p_T), whose entries reach T where cross-entropy's reach 1, so at the preset's
    rate its first steps are up to T times larger (an MLP on MNIST at lr 0.1 diverges at T = 4)."""
    label = preset.label_loss
    plan = [ModelSpec("teacher", preset.teacher_arch, label)]
    if preset.cross_architecture:
        plan.append(ModelSpec("label", preset.student_arch, label))
    previous = "teacher"
    for k in range(1, preset.generations + 1):
        plan.append(ModelSpec(row_names.generation(k), preset.student_arch, GENERATION_LOSS, previous))
        previous = row_names.generation(k)
    plan += [ModelSpec(loss, preset.student_arch, loss, "teacher") for loss in preset.students]
    plan += [ModelSpec(row_names.tempered(t), preset.student_arch, GENERATION_LOSS, "teacher", temperature=t,
                       lr_factor=1 / t) for t in preset.temperatures]
    if preset.label_smoothing:
        plan.append(ModelSpec("ls", preset.student_arch, "ls", smoothing_from="teacher"))
    # siblings of the control model (the teacher, or `label` when the students' architecture differs)
    plan += [ModelSpec(row_names.independent(k), preset.student_arch, label)
             for k in range(2, preset.independent_models + 2)]
    if preset.equal_compute:
        plan.append(ModelSpec("teacher-2x", preset.teacher_arch, label, epochs_factor=2))
    if preset.unlabelled:
        plan.append(ModelSpec("ban-unsup", preset.student_arch, GENERATION_LOSS, "teacher", unlabelled=True))
    if preset.same_family and preset.cross_architecture:
        plan.append(ModelSpec(row_names.SAME_FAMILY, preset.student_arch, GENERATION_LOSS, "label"))
    return plan


def primary_plan(preset: Preset) -> list[ModelSpec]:
    """The models of the primary comparison: primary_models and the models they learn from, in plan order."""
    return required_models(study_plan(preset), list(preset.primary_models))


def seed_plan(preset: Preset, seed: int) -> list[ModelSpec]:
    """The models the study's design trains on `seed`: on a primary seed the primary comparison's (primary_plan), on
    any other seed the whole plan."""
    return primary_plan(preset) if seed in preset.primary_seeds else study_plan(preset)


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
