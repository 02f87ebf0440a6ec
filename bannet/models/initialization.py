"""He initialisation used by the CIFAR residual and dense networks."""

from torch import nn


def he_init_(model: nn.Module) -> nn.Module:
    """Init in place: convs ~ N(0, 2 / fan_out) (He et al. 2015), BN weight 1 bias 0, linear bias 0."""
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.BatchNorm2d):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Linear):
            nn.init.zeros_(module.bias)
    return model
