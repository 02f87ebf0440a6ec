"""The state of a model in training at the end of an epoch, saved atomically so a killed run loses one epoch at most.

It holds everything the next epoch reads: the weights and BatchNorm statistics, the optimiser's momentum, the
recipe's slow weights (lookahead), the loss's own state (DKPP's generator), every random generator a step draws from
(torch's global ones and the loaders'), the history so far and the seconds spent. At a fixed thread count a resumed
model is therefore bit-identical to one trained without interruption.
"""

from collections.abc import Iterable
from dataclasses import asdict
from pathlib import Path

import torch
from torch import nn

from bannet.errors import InvalidInput
from bannet.files import atomic_write, read_file
from bannet.recipes.lookahead import Lookahead

FIX = "delete it to train this model again from its first epoch"


def _generator_states(loaders: Iterable[object]) -> list[torch.Tensor | dict | None]:
    """The state of each loader: its state_dict() when it has one, else its torch.Generator's state, else None."""
    states = []
    for loader in loaders:
        if hasattr(loader, "state_dict"):
            states.append(loader.state_dict())
        elif isinstance(getattr(loader, "generator", None), torch.Generator):
            states.append(loader.generator.get_state())
        else:
            states.append(None)
    return states


def _restore_generators(loaders: Iterable[object], states: list) -> None:
    for loader, state in zip(loaders, states, strict=True):
        if state is None:
            continue
        if hasattr(loader, "load_state_dict"):
            loader.load_state_dict(state)
        else:
            loader.generator.set_state(state)


def save_training_state(path: Path, epochs_done: int, model: nn.Module, optimizer: torch.optim.Optimizer,
                        loss_fn: nn.Module, loaders: list[object], history: list, elapsed_s: float,
                        cpu_s: float | None, settings: dict, lookahead: Lookahead | None = None) -> None:
    """Write the state after `epochs_done` epochs to `path`, atomically."""
    state = {
        "epochs_done": epochs_done, "settings": settings,
        "model": model.state_dict(), "optimizer": optimizer.state_dict(), "loss": loss_fn.state_dict(),
        "lookahead": None if lookahead is None else lookahead.state_dict(),
        "torch_rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else [],
        "loaders": _generator_states(loaders),
        "history": [asdict(m) for m in history], "elapsed_s": elapsed_s, "cpu_s": cpu_s,
    }
    atomic_write(path, lambda f: torch.save(state, f))


def saved_settings(path: Path) -> dict:
    """The settings a training state was saved with (the recipe, the precision, the compute kind)."""
    state = read_file(path, lambda p: torch.load(p, map_location="cpu", weights_only=True),
                      "a bannet training state", FIX)
    return state.get("settings", {})


def load_training_state(path: Path, model: nn.Module, optimizer: torch.optim.Optimizer, loss_fn: nn.Module,
                        loaders: list[object], settings: dict,
                        lookahead: Lookahead | None = None) -> tuple[int, list[dict], float, float | None]:
    """Restore a saved state into model, optimizer, loss, loaders and the slow weights; returns (epochs done, history,
    wall seconds, CPU seconds spent: None for a state saved before CPU time was recorded)."""
    state = read_file(path, lambda p: torch.load(p, map_location="cpu", weights_only=True),
                      "a bannet training state", FIX)
    if state.get("settings") != settings:
        raise InvalidInput(f"{path} was saved by a run with other settings ({state.get('settings')}, now "
                           f"{settings}); {FIX}")
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    loss_fn.load_state_dict(state["loss"])
    if lookahead is not None:  # the settings (the recipe's name) match, so the state holds them
        lookahead.load_state_dict(state["lookahead"])
    torch.set_rng_state(state["torch_rng"])
    if state["cuda_rng"]:
        torch.cuda.set_rng_state_all(state["cuda_rng"])
    _restore_generators(loaders, state["loaders"])
    return state["epochs_done"], state["history"], state["elapsed_s"], state.get("cpu_s")
