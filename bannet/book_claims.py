"""What each experiment chapter tests and claims: its primary comparison, its Holm family and the comparative
sentences of its answer, each registered with the comparison that must support it."""

from bannet.claims import INTERIM, NO_CONCLUSION, ChapterClaims, Claim, Comparison

MNIST, MNIST_LONG = "mnist-mlp", "mnist-mlp-20ep"
CIFAR10 = "cifar10-wrn-28-1-11ep"
CIFAR10_CONVERGED = "cifar10-airbench"
CIFAR100 = "cifar100-wrn-16-2-9ep"
IMAGEWANG = "imagewang-densenet121-resnet18-64px-9ep"
AMONG = "error among the test set's classes"


def against(study: str, baseline: str, rows: list[str], measure: str = "error") -> tuple[Comparison, ...]:
    """Each row against one baseline."""
    return tuple(Comparison(study, row, baseline, measure) for row in rows)


def ensembles(study: str, sizes: range) -> tuple[Comparison, ...]:
    """Each born-again ensemble against the independent ensemble of its size and seed."""
    return tuple(Comparison(study, f"bane-{k}", f"ens-{k}") for k in sizes)


MNIST_MLP = ChapterClaims(
    primary=Comparison(MNIST, "ban-1", "teacher"),
    family=(against(MNIST, "teacher", ["ban-2", "ban-3", "ban+l", "cwtm", "dkpp", "ban-1-t2", "ban-1-t4", "ls",
                                        "indep-2", "indep-3", "teacher-2x", "bane-2", "bane-3", "ens-2", "ens-3"])
            + ensembles(MNIST, range(2, 4)) + against(MNIST, "ban-1", ["ls", "cwtm", "dkpp", "ban-1-t2", "ban-1-t4"])
            + (Comparison(MNIST, "ban-1", "teacher-2x"),)
            + against(MNIST_LONG, "teacher", ["ban-1", "ban-2", "ban-3", "teacher-2x", "bane-2", "bane-3"])
            + (Comparison(MNIST_LONG, "ban-1", "teacher-2x"),)),
    claims=(Claim("`ls` has lower error than `ban-1`", Comparison(MNIST, "ls", "ban-1"), "lower"),
            Claim("`ban-2` and `ban-3` have higher error than the teacher", Comparison(MNIST, "ban-2", "teacher"),
                  "higher"),
            Claim("`ban-2` and `ban-3` have higher error than the teacher", Comparison(MNIST, "ban-3", "teacher"),
                  "higher"),
            Claim("`bane-2` and `bane-3` have higher error than `ens-2` and `ens-3`",
                  Comparison(MNIST, "bane-2", "ens-2"), "higher"),
            Claim("`bane-2` and `bane-3` have higher error than `ens-2` and `ens-3`",
                  Comparison(MNIST, "bane-3", "ens-3"), "higher")))

CIFAR10_WRN = ChapterClaims(
    primary=Comparison(CIFAR10_CONVERGED, "ban-1", "teacher"),
    family=(against(CIFAR10_CONVERGED, "teacher", ["ban-2", "ban+l", "cwtm", "dkpp", "ls", "indep-2", "teacher-2x",
                                                    "bane-2", "ens-2"])
            + ensembles(CIFAR10_CONVERGED, range(2, 3)) + (Comparison(CIFAR10_CONVERGED, "ban-1", "teacher-2x"),)
            + against(CIFAR10, "teacher", ["ban-1", "ban-2", "indep-2", "teacher-2x", "bane-2", "ens-2"])
            + ensembles(CIFAR10, range(2, 3)) + (Comparison(CIFAR10, "ban-1", "teacher-2x"),)),
    claims=(Claim("`ban-1` against the teacher of its seed is interim",
                  Comparison(CIFAR10_CONVERGED, "ban-1", "teacher"), INTERIM),
            Claim("`ban-1` has higher error than the teacher of the same seed",
                  Comparison(CIFAR10, "ban-1", "teacher"), "higher"),
            Claim("the data cannot tell `bane-2` from `ens-2`", Comparison(CIFAR10, "bane-2", "ens-2"),
                  NO_CONCLUSION)))

CIFAR100_WRN = ChapterClaims(
    primary=Comparison(CIFAR100, "ban-1", "teacher"),
    family=(against(CIFAR100, "teacher", ["ban-2", "ban-3", "ban+l", "cwtm", "dkpp", "ls", "indep-2", "indep-3",
                                           "teacher-2x", "bane-2", "bane-3", "ens-2", "ens-3"])
            + ensembles(CIFAR100, range(2, 4)) + (Comparison(CIFAR100, "ban-1", "teacher-2x"),)
            + against(CIFAR100, "ban-1", ["ban+l", "ls", "cwtm", "dkpp"])),
    claims=(Claim("`ban-1` has higher error than the teacher of the same seed",
                  Comparison(CIFAR100, "ban-1", "teacher"), "higher"),
            Claim("`ban-2` and `ban-3` have higher error than the teacher", Comparison(CIFAR100, "ban-2", "teacher"),
                  "higher"),
            Claim("`ban-2` and `ban-3` have higher error than the teacher", Comparison(CIFAR100, "ban-3", "teacher"),
                  "higher"),
            Claim("`teacher-2x` has lower error than the teacher", Comparison(CIFAR100, "teacher-2x", "teacher"),
                  "lower"),
            Claim("`ban-1` has higher error than `teacher-2x`", Comparison(CIFAR100, "ban-1", "teacher-2x"),
                  "higher"),
            Claim("DKPP has higher error than the teacher", Comparison(CIFAR100, "dkpp", "teacher"), "higher")))

IMAGEWANG_DOGS = ChapterClaims(
    primary=Comparison(IMAGEWANG, "ban-1", "label"),
    family=(against(IMAGEWANG, "label", ["teacher", "cwtm", "dkpp", "ban-unsup"])
            + against(IMAGEWANG, "label", ["teacher", "ban-1", "cwtm", "dkpp", "ban-unsup"], AMONG)
            + against(IMAGEWANG, "ban-1", ["cwtm", "dkpp", "ban-unsup"])
            + against(IMAGEWANG, "ban-1", ["cwtm", "dkpp", "ban-unsup"], AMONG)),
    claims=(Claim("DKPP has higher error among the breeds than `ban-1`", Comparison(IMAGEWANG, "dkpp", "ban-1", AMONG),
                  "higher"),))

CHAPTERS: dict[str, ChapterClaims] = {"03_mnist_mlp": MNIST_MLP, "04_cifar10_wrn": CIFAR10_WRN,
                                      "05_cifar100": CIFAR100_WRN, "07_imagewang": IMAGEWANG_DOGS}
