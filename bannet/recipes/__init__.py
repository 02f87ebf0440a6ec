"""Training recipes, named by the preset that uses them: the paper's WRN step recipe and the fast one, with or without
lookahead."""

from bannet.errors import InvalidInput
from bannet.presets import Preset

from .base import Recipe
from .fast import FastLookaheadRecipe, FastRecipe
from .step import StepRecipe

__all__ = ["RECIPES", "FastLookaheadRecipe", "FastRecipe", "Recipe", "StepRecipe", "recipe_for"]

RECIPES: dict[str, type[Recipe]] = {recipe.name: recipe for recipe in (StepRecipe, FastRecipe, FastLookaheadRecipe)}


def recipe_for(preset: Preset, precision: str = "auto", compile: bool = False) -> Recipe:
    """The recipe a preset names, with the preset's epochs, batch and learning rate and the recipe's other settings."""
    if preset.recipe not in RECIPES:
        raise InvalidInput(f"preset {preset.name!r} names an unknown recipe {preset.recipe!r}; known: "
                           f"{', '.join(RECIPES)}")
    return RECIPES[preset.recipe](epochs=preset.epochs, batch_size=preset.batch_size, lr=preset.lr,
                                  precision=precision, compile=compile)
