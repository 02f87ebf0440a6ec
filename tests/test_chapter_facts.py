"""Every figure a chapter's prose gives for a study's design (epochs, image size) is one its presets hold: a preset
edited without its chapter, or a chapter that types a figure no preset has, fails here. Figures quoted from others
are listed with their source."""

import json
import re
from pathlib import Path

import pytest

from bannet.data import DATASETS
from bannet.presets import PRESETS, study_plan

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = sorted((ROOT / "notebooks").glob("*.ipynb"))
FIGURE = re.compile(r"\b(\d[\d,]*)[ -](epochs?|pixels|px)\b")
# Figures of other people's runs that a chapter quotes, with where they come from.
QUOTED = {"07_imagewang": {("5", "epochs"): "the ImageWang leaderboard's 128-pixel entry, 5 epochs",
                           ("20", "epochs"): "the ImageWang leaderboard's 128-pixel entry, 20 epochs"}}


def _cells(notebook: Path, kind: str) -> str:
    cells = json.loads(notebook.read_text())["cells"]
    return "\n".join("".join(cell["source"]) for cell in cells if cell["cell_type"] == kind)


def _design_figures(notebook: Path) -> dict[str, set[int]]:
    """The epochs and image sizes of every preset the chapter's code names: each model's epochs, the paper's epochs,
    the image size its models see."""
    code = _cells(notebook, "code")
    presets = [preset for name, preset in PRESETS.items() if f'"{name}"' in code]
    epochs = {preset.epochs * spec.epochs_factor for preset in presets for spec in study_plan(preset)}
    epochs |= {preset.paper_epochs for preset in presets if preset.paper_epochs}
    sizes = {preset.max_image_size or DATASETS[preset.dataset].image_size for preset in presets}
    return {"epochs": epochs, "pixels": sizes}


def _unsupported(notebook: Path) -> list[str]:
    """The design figures of the chapter's prose that none of its presets holds and that it does not quote."""
    allowed, quoted = _design_figures(notebook), QUOTED.get(notebook.stem, {})
    found = []
    for match in FIGURE.finditer(_cells(notebook, "markdown")):
        number, unit = match.group(1).replace(",", ""), "epochs" if match.group(2).startswith("epoch") else "pixels"
        if int(number) not in allowed[unit] and (number, unit) not in quoted:
            found.append(match.group(0))
    return found


@pytest.mark.parametrize("notebook", CHAPTERS, ids=lambda path: path.stem)
def test_the_prose_states_only_design_figures_its_presets_hold(notebook):
    assert _unsupported(notebook) == []


def test_a_figure_no_preset_holds_is_caught(tmp_path):
    notebook = tmp_path / "04_cifar10_wrn.ipynb"
    cells = [{"cell_type": "code", "source": ['LAPTOP = "cifar10-wrn-28-1-11ep"']},
             {"cell_type": "markdown", "source": ["Every model trains for 11 epochs, the control for 23 epochs."]}]
    notebook.write_text(json.dumps({"cells": cells}))
    assert _unsupported(notebook) == ["23 epochs"]
