"""The fast path trains the same thing as the plain torchvision loop: same losses, same updates, same augmentation.

The plain side is bannet.reference (PixelDataset, PlainStep and the autograd losses), the loop that
benchmarks/train_throughput.py times as (a), so what the benchmark times as (a) and (b) is also shown here to
compute the same thing. Pixel equality of the two input paths is in tests/test_data.py.
"""

import copy

import pytest
import torch
from torch.utils.data import DataLoader

from bannet.data import DATASETS, DeviceLoader, load_split, spec_transform, torchvision_loader
from bannet.losses import build_loss, names
from bannet.models import build
from bannet.recipes import StepRecipe
from bannet.reference import PixelDataset, PlainStep, reference_loss
from bannet.train import TrainStep
from helpers import real_data_root

CIFAR = DATASETS["cifar10"]
BATCH = 32
LOSS_OPTIONS = {"dkpp": {"seed": 0}}  # given to bannet's loss and its reference alike: the same permutations


def synthetic_split(n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """n random uint8 CIFAR-shaped images and int64 labels."""
    generator = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (n, 3, 32, 32), generator=generator, dtype=torch.uint8)
    return images, torch.randint(0, 10, (n,), generator=generator)


@pytest.fixture(params=["synthetic", "cifar10"])
def batches(request) -> tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
    """The first evaluation batch through the plain torchvision path and through DeviceLoader: (plain, fast)."""
    if request.param == "cifar10":
        root = real_data_root("cifar10")
        images, labels = load_split("cifar10", train=False, root=root, download=False)
        plain = torchvision_loader("cifar10", train=False, batch_size=BATCH, root=root)
    else:
        images, labels = synthetic_split(BATCH)
        plain = DataLoader(PixelDataset(images, labels, spec_transform(CIFAR, False)), batch_size=BATCH)
    fast = DeviceLoader(images, labels, CIFAR, BATCH, train=False)
    return next(iter(plain)), next(iter(fast))


def seeded(name: str, seed: int) -> torch.nn.Module:
    """A freshly initialised CIFAR-10 model, seeded."""
    torch.manual_seed(seed)
    return build(name, CIFAR.num_classes)


def test_every_loss_is_the_same_on_the_same_batch_through_both_paths(batches):
    (x_plain, y_plain), (x_fast, y_fast) = batches
    assert torch.equal(y_plain, y_fast)
    model, teacher = seeded("wrn-10-1", 0).eval(), seeded("wrn-10-1", 1).eval()
    with torch.no_grad():
        plain = model(x_plain), teacher(x_plain)
        fast = model(x_fast), teacher(x_fast)
    for name in names():
        options = LOSS_OPTIONS.get(name, {})
        reference = reference_loss(name, **options)(*plain, y_plain)
        ours = build_loss(name, **options)(*fast, y_fast)
        assert reference > 0.1, f"{name}: a degenerate loss would prove nothing"
        torch.testing.assert_close(ours, reference, rtol=1e-5, atol=1e-6, msg=f"loss {name}")


@pytest.mark.parametrize("loss", ["ce", "ban"])
def test_train_step_updates_parameters_like_the_plain_loop(batches, loss):
    (x_plain, y_plain), (x_fast, y_fast) = batches
    config = StepRecipe(epochs=1, precision="fp32")  # the plain loop's precision: the same arithmetic on both sides
    cpu = torch.device("cpu")
    start = seeded("wrn-10-1", 0)
    teacher = seeded("wrn-10-1", 1) if loss == "ban" else None
    plain_model, fast_model = copy.deepcopy(start), copy.deepcopy(start)
    plain_step = PlainStep(plain_model, config, cpu, teacher=copy.deepcopy(teacher), loss=loss)
    fast_step = TrainStep(fast_model, build_loss(loss), config.make_optimizer(fast_model, cpu), config, cpu,
                          teacher=copy.deepcopy(teacher))
    for _ in range(3):  # the momentum and Nesterov terms join from the second step
        plain_step(x_plain, y_plain)
        fast_step(x_fast, y_fast)
    # fp32 trajectories part at the rounding level (up to ~0.3% of an update here); a real difference in the
    # loss, its gradient or the optimiser (Nesterov, weight decay, scaling) moves them by a sizeable part of it.
    for (key, ours), reference, before in zip(fast_model.named_parameters(), plain_model.parameters(),
                                              start.parameters()):
        scale = (reference - before).abs().max().item()
        assert scale > 1e-5, f"{key} did not move"
        torch.testing.assert_close(ours, reference, rtol=0, atol=0.02 * scale, msg=f"{key} after 3 steps")
    for (key, ours), reference in zip(fast_model.named_buffers(), plain_model.buffers()):
        torch.testing.assert_close(ours, reference, rtol=1e-5, atol=1e-6, msg=f"buffer {key}")


def column_and_row_profiles(x: torch.Tensor) -> torch.Tensor:
    """Pixel values in [0, 1] of channel 0 averaged per column and of channel 1 averaged per row (64 numbers)."""
    pixels = x * torch.tensor(CIFAR.std).view(1, 3, 1, 1) + torch.tensor(CIFAR.mean).view(1, 3, 1, 1)
    return torch.cat([pixels[:, 0].mean((0, 1)), pixels[:, 1].mean((0, 2))])


def test_augmented_pixel_statistics_match_torchvision():
    n, epochs = 512, 8
    ramp = torch.arange(32, dtype=torch.uint8) * 8 + 4  # 4..252: padding (0) stays distinguishable
    images = torch.stack([ramp.view(1, 32).expand(32, 32), ramp.view(32, 1).expand(32, 32),
                          torch.full((32, 32), 128, dtype=torch.uint8)]).expand(n, 3, 32, 32).contiguous()
    labels = torch.zeros(n, dtype=torch.int64)
    fast = DeviceLoader(images, labels, CIFAR, 128, train=True, generator=torch.Generator().manual_seed(0))
    torch.manual_seed(0)
    plain = DataLoader(PixelDataset(images, labels, spec_transform(CIFAR, True)), batch_size=128)
    fast_x = torch.cat([x for _ in range(epochs) for x, _ in fast])
    plain_x = torch.cat([x for _ in range(epochs) for x, _ in plain])
    assert fast_x.shape == plain_x.shape == (n * epochs, 3, 32, 32)
    profiles = column_and_row_profiles(fast_x), column_and_row_profiles(plain_x)
    assert (profiles[1][:32] - profiles[1][:32].flip(0)).abs().max() < 0.03, "torchvision flips half the images"
    torch.testing.assert_close(profiles[0], profiles[1], rtol=0, atol=0.02)
    padding = [((x[:, 2] * CIFAR.std[2] + CIFAR.mean[2]).abs() < 1e-4).float().mean() for x in (fast_x, plain_x)]
    assert 0.1 < padding[1] < 0.2  # E[1 − (1 − |oy−4|/32)(1 − |ox−4|/32)] ≈ 0.134
    torch.testing.assert_close(padding[0], padding[1], rtol=0, atol=0.01)
