"""Which records make one study: the training settings its models share, compared record with record.

A study's training settings are its profile, its preset's fields other than the study's shape, and its recipe.
Neither the commit nor the compute kind is a setting: a study may span commits, and each seed is computed on one
kind (bannet.compute_kind). A folder's records are compared with each other, never with today's presets, which may
have changed since they were recorded.
"""

import json
from dataclasses import MISSING, asdict, fields
from pathlib import Path
from typing import TYPE_CHECKING

from bannet.presets import Preset

if TYPE_CHECKING:  # records are compared without importing the trainer
    from bannet.recipes import Recipe

# Preset fields that only add models or describe the study: a resumed study may change them. The profile is
# compared on its own (the record's top-level "profile").
STUDY_SHAPE_FIELDS = {"description", "generations", "students", "ensemble_of", "paper", "paper_source", "paper_epochs",
                      "independent_models", "same_family", "equal_compute", "label_smoothing", "temperatures", "seeds",
                      "primary_seeds", "primary_models", "budget_hours", "profile"}
# Recipe fields that are not settings of their own: epochs, batch and lr are the preset's (scaled per model by its
# factors), and precision and compile belong to the compute kind.
_NOT_RECIPE_SETTINGS = {"epochs", "batch_size", "lr", "precision", "compile"}
# A preset field that an older record lacks was added later: what it trained with is the field's default.
_PRESET_DEFAULTS = json.loads(json.dumps({f.name: f.default for f in fields(Preset) if f.default is not MISSING}))


def training_settings(record: dict) -> dict:
    """The settings a record's model was trained with, flat: "profile", the preset's fields other than the study's
    shape, and the recipe's as "train.<field>"."""
    preset = {**_PRESET_DEFAULTS, **record.get("preset", {})}
    train = {"recipe": preset["recipe"], **record.get("train", {})}  # records from before recipes name none
    settings = {"profile": record.get("profile")}
    settings.update({key: value for key, value in preset.items() if key not in STUDY_SHAPE_FIELDS})
    settings.update({f"train.{key}": value for key, value in train.items() if key not in _NOT_RECIPE_SETTINGS})
    return settings


def run_settings(preset: Preset, recipe: "Recipe") -> dict:
    """The settings a run of `preset` with `recipe` trains with, as its records will state them."""
    as_recorded = json.loads(json.dumps({"preset": asdict(preset), "train": recipe.to_dict()}))
    return training_settings({"profile": preset.profile, **as_recorded})


def differing(settings: dict, others: dict) -> list[str]:
    """The names of the settings on which two sets of settings differ, sorted."""
    return sorted(key for key in settings.keys() | others.keys() if settings.get(key) != others.get(key))


def foreign_records(recorded: dict[Path, dict]) -> dict[Path, str]:
    """The records trained with other settings than the study's, each with one line naming it and what differs.

    `recorded` maps DIR/seed-<k>/<model>.json to its record. The study is the group of records sharing one set of
    settings that spans the most seeds; on a tie, the group of the first record given.
    """
    groups: dict[str, list[Path]] = {}
    for path, record in recorded.items():
        groups.setdefault(json.dumps(training_settings(record), sort_keys=True), []).append(path)
    if len(groups) < 2:
        return {}
    study = max(groups, key=lambda key: len({path.parent.name for path in groups[key]}))
    seeds = sorted({path.parent.name for path in groups[study]})
    return {path: f"{path}: trained with other settings ({', '.join(differing(json.loads(key), json.loads(study)))}) "
                  f"than the study's records in {', '.join(seeds)}; move it to its own folder"
            for key, paths in groups.items() if key != study for path in paths}
