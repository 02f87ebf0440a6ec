"""--precision: auto picks bf16 autocast where the hardware multiplies bf16, channels_last with it and on every CPU,
and the step uses it."""

import pytest
import torch

from bannet import precision as bprecision
from bannet.errors import InvalidInput
from bannet.losses import build_loss
from bannet.models import build
from bannet.precision import resolve_precision
from bannet.recipes import StepRecipe
from bannet.train import TrainStep, prepare_model

CPU = torch.device("cpu")


@pytest.mark.parametrize("has_bf16", [True, False])
def test_auto_follows_the_cpu(monkeypatch, has_bf16):
    monkeypatch.setattr(bprecision, "cpu_has_bf16_matmul", lambda: has_bf16)
    chosen = resolve_precision("auto", CPU)
    assert chosen.bf16 is has_bf16 and chosen.channels_last is True  # on a CPU, fp32 too
    assert chosen.to_dict() == {"requested": "auto", "compute": "bf16 autocast" if has_bf16 else "fp32",
                                "memory_format": "channels_last"}
    assert resolve_precision("fp32", CPU).bf16 is False and resolve_precision("bf16", CPU).bf16 is True


def test_the_cpu_probe_agrees_with_cpuinfo():
    try:
        flags = set(open("/proc/cpuinfo").read().split())
    except OSError:
        pytest.skip("no /proc/cpuinfo on this system")
    assert bprecision.cpu_has_bf16_matmul() == bool({"amx_bf16", "avx512_bf16"} & flags)


def test_an_unknown_precision_is_refused():
    with pytest.raises(InvalidInput, match="precision must be one of auto, fp32, bf16, got 'fp16'"):
        StepRecipe(epochs=1, precision="fp16")


def _one_step(precision: str) -> tuple[torch.nn.Module, torch.Tensor]:
    torch.manual_seed(0)
    config = StepRecipe(epochs=1, precision=precision)
    model = prepare_model(build("wrn-10-1", 10), CPU, config)
    step = TrainStep(model, build_loss("ce"), config.make_optimizer(model, CPU), config, CPU)
    x = torch.randn(8, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    loss, _ = step(x.contiguous(memory_format=torch.channels_last) if step.precision.channels_last else x,
                   torch.arange(8))
    return model, loss


def test_bf16_trains_in_bf16_and_channels_last_and_stays_close_to_fp32():
    model32, loss32 = _one_step("fp32")
    model16, loss16 = _one_step("bf16")
    conv = lambda m: next(p for p in m.parameters() if p.ndim == 4)
    assert conv(model16).is_contiguous(memory_format=torch.channels_last) and conv(model16).dtype == torch.float32
    assert conv(model32).is_contiguous(memory_format=torch.channels_last)  # fp32 on a CPU too: faster there
    assert loss16 != loss32  # autocast really computed in bf16 ...
    torch.testing.assert_close(loss16, loss32, rtol=2e-2, atol=0)  # ... and it is the same computation


@pytest.mark.parametrize("arch", ["wrn-10-1", "densenet-16-4", "mlp"])
def test_a_bf16_checkpoint_stores_conv_and_linear_in_bf16_and_gives_the_same_bf16_outputs(arch):
    torch.manual_seed(0)
    config = StepRecipe(epochs=1, precision="bf16")
    shape = (16, 1, 28, 28) if arch == "mlp" else (16, 3, 32, 32)
    model = prepare_model(build(arch, 10), CPU, config).eval()
    bf16 = resolve_precision("bf16", CPU)
    stored = bf16.storable_state_dict(model)
    halved = {k.rsplit(".", 1)[0] for k, v in stored.items() if v.dtype == torch.bfloat16}
    assert halved == {name for name, m in model.named_modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))}
    reloaded = prepare_model(build(arch, 10), CPU, config).eval()
    reloaded.load_state_dict(stored)
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(2))
    x = x.contiguous(memory_format=torch.channels_last) if x.ndim == 4 else x
    with torch.no_grad():
        assert not torch.equal(reloaded(x), model(x))  # the weights were rounded ...
        with bf16.autocast(CPU):
            assert torch.equal(reloaded(x), model(x))  # ... exactly as autocast rounds them on every use


def test_an_fp32_checkpoint_is_the_plain_state_dict():
    model, _ = _one_step("fp32")
    stored = resolve_precision("fp32", CPU).storable_state_dict(model)
    assert stored.keys() == model.state_dict().keys()
    assert all(torch.equal(stored[k], v) and stored[k].dtype == v.dtype for k, v in model.state_dict().items())
