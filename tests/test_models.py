"""Tests for bannet.models: registry, output shapes, parameter counts against the papers, init and errors."""

import math

import pytest
import torch
from torch import nn

from bannet.errors import InvalidInput
from bannet.models import PAPER_DENSENETS, PAPER_PARAMS, build, count_parameters, names, preresnet, wrn
from bannet.models.densenet import DenseLayer

TOO_BIG_FOR_A_CPU_FORWARD = {"wrn-28-10", "densenet-80-120"}
INPUT_SHAPES = {"mlp": (1, 28, 28), "resnet18": (3, 64, 64), "densenet121": (3, 64, 64)}
CIFAR_SHAPE = (3, 32, 32)
SMOKE_NAMES = ["wrn-10-1", "densenet-22-4", "preresnet-8"]

DENSENET_BC_PARAMS_100_CLASSES = {
    "densenet-112-33": 6_987_916,
    "densenet-90-60": 15_189_100,
    "densenet-80-80": 21_104_180,
    "densenet-80-120": 47_277_820,
}


def forward_shape(name: str, num_classes: int, batch: int = 2) -> tuple[int, ...]:
    """Shape of the logits of a freshly built model on a random batch of its input size."""
    torch.manual_seed(0)
    model = build(name, num_classes).eval()
    with torch.no_grad():
        return tuple(model(torch.randn(batch, *INPUT_SHAPES.get(name, CIFAR_SHAPE))).shape)


def test_names_cover_the_paper_architectures():
    expected = {"mlp", "wrn-28-1", "wrn-28-2", "wrn-28-5", "wrn-28-10", "densenet-112-33", "densenet-90-60",
                "densenet-80-80", "densenet-80-120", "preresnet-110", "resnet18", "densenet121"}
    assert expected <= set(names())
    assert set(PAPER_PARAMS) <= set(names())


@pytest.mark.parametrize("name", [n for n in names() if n not in TOO_BIG_FOR_A_CPU_FORWARD] + SMOKE_NAMES)
def test_forward_gives_one_logit_per_class(name):
    assert forward_shape(name, num_classes=7) == (2, 7)


@pytest.mark.parametrize("name", sorted(TOO_BIG_FOR_A_CPU_FORWARD))
def test_big_models_build_with_the_requested_head(name):
    classifier = [m for m in build(name, 7).modules() if isinstance(m, nn.Linear)][-1]
    assert classifier.out_features == 7


@pytest.mark.parametrize("name", [n for n in PAPER_PARAMS if n.startswith("wrn-")])
def test_wrn_parameter_count_within_3_percent_of_paper(name):
    millions = count_parameters(build(name, 100)) / 1e6  # Table 1's counts match 100-class heads
    assert millions == pytest.approx(PAPER_PARAMS[name], rel=0.03)


@pytest.mark.parametrize("name, expected", DENSENET_BC_PARAMS_100_CLASSES.items())
def test_densenet_bc_parameter_count_is_exact(name, expected):
    assert count_parameters(build(name, 100)) == expected


def test_mlp_parameter_count_is_784_800_800_10():
    assert count_parameters(build("mlp", 10)) == 784 * 800 + 800 + 800 * 800 + 800 + 800 * 10 + 10


def test_preresnet_110_has_about_1_7_million_parameters():
    count = count_parameters(build("preresnet-110", 10))
    assert count == 1_730_522
    assert count / 1e6 == pytest.approx(1.7, rel=0.03)


@pytest.mark.parametrize("name, expected", [("resnet18", 11_181_642), ("densenet121", 6_964_106)])
def test_torchvision_models_have_their_standard_size(name, expected):
    assert count_parameters(build(name, 10)) == expected


def test_count_parameters_counts_weights_and_biases():
    assert count_parameters(nn.Linear(3, 2)) == 3 * 2 + 2


def test_widths_follow_the_multipliers():
    assert wrn(10, 3).classifier.in_features == 64 * 3
    assert preresnet(8, width=2.0).classifier.in_features == 64 * 2


def test_he_init_of_convs_batchnorm_and_linear():
    torch.manual_seed(0)
    model = build("wrn-16-4", 10)
    widest = max((m for m in model.modules() if isinstance(m, nn.Conv2d)), key=lambda m: m.weight.numel())
    fan_out = widest.out_channels * widest.kernel_size[0] * widest.kernel_size[1]
    assert widest.weight.std().item() == pytest.approx(math.sqrt(2.0 / fan_out), rel=0.05)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            assert torch.all(module.weight == 1) and torch.all(module.bias == 0)
    assert torch.all(model.classifier.bias == 0)


def test_wrn_dropout_is_active_only_in_training():
    torch.manual_seed(0)
    model = wrn(10, 1, dropout=0.3)
    assert [m.p for m in model.modules() if isinstance(m, nn.Dropout)] == [0.3] * 3
    x = torch.randn(2, *CIFAR_SHAPE)
    with torch.no_grad():
        assert not torch.equal(model(x), model(x))
        model.eval()
        assert torch.equal(model(x), model(x))


@pytest.mark.parametrize("name", ["", "wrn", "wrn-28", "wrn-28-1-2", "WRN-28-1", "resnet-18", "densenet-112",
                                  "preresnet-x", "preresnet-110 ", "vgg16"])
def test_unknown_or_ill_formed_names_raise(name):
    with pytest.raises(InvalidInput, match="unknown model name"):
        build(name, 10)


@pytest.mark.parametrize("name", ["wrn-27-1", "wrn-4-1", "wrn-28-0", "preresnet-111", "preresnet-2",
                                  "densenet-8-12", "densenet-100-0"])
def test_invalid_depth_or_width_raises(name):
    with pytest.raises(ValueError):
        build(name, 10)


@pytest.mark.parametrize("name, fix", [("densenet-117-33", "use 112 or 118, the nearest valid depths"),
                                       ("densenet-8-12", "use 10, the smallest valid depth"),
                                       ("densenet-90-12", "use 88 or 94"), ("densenet-80-60", "use 76 or 82")])
def test_densenet_depth_must_be_6n_plus_4_and_the_error_names_the_nearest(name, fix):
    with pytest.raises(InvalidInput, match=rf"DenseNet-BC depth must be 6n\+4 with n >= 1, got \d+; {fix}"):
        build(name, 10)


def test_only_the_papers_densenet_names_build_the_6n_plus_4_depth_below():
    assert PAPER_DENSENETS == {"densenet-90-60": "densenet-88-60", "densenet-80-80": "densenet-76-80",
                               "densenet-80-120": "densenet-76-120"}
    layers = [m for m in build("densenet-90-60", 10).modules() if isinstance(m, DenseLayer)]
    assert len(layers) == 3 * 14 and layers[0].conv[2].out_channels == 60  # 88 = 6 * 14 + 4, growth 60


def test_invalid_dropout_and_width_raise():
    with pytest.raises(ValueError, match="dropout"):
        wrn(10, 1, dropout=1.0)
    with pytest.raises(ValueError, match="width"):
        preresnet(8, width=0.0)


@pytest.mark.parametrize("num_classes", [1, 0, -3])
def test_fewer_than_two_classes_raise(num_classes):
    with pytest.raises(ValueError, match="num_classes"):
        build("mlp", num_classes)


@pytest.mark.parametrize("num_classes", [2.0, True, "10"])
def test_non_integer_num_classes_raise(num_classes):
    with pytest.raises(TypeError, match="num_classes"):
        build("wrn-10-1", num_classes)
