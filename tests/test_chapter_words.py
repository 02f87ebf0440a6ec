"""How much of a chapter is generated: at most 20% of its prose words (benchmarks/chapter_words.py counts them)."""

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
from chapter_words import GENERATED_SHARE_LIMIT, word_counts  # noqa: E402


@pytest.mark.parametrize("notebook", sorted((ROOT / "notebooks").glob("*.ipynb")), ids=lambda p: p.stem)
def test_a_chapter_is_mostly_written_not_generated(notebook):
    written, generated = word_counts(notebook)
    share = generated / (written + generated)
    assert share <= GENERATED_SHARE_LIMIT, f"{notebook.stem}: {share:.0%} generated"


def test_the_counter_tells_prose_from_tables_and_code(tmp_path):
    cell = lambda kind, text, outputs=(): {"cell_type": kind, "source": text, "outputs": list(outputs)}
    printed = {"output_type": "stream", "text": ["The student is better.\n", "| a | b |\n", "teacher    wrn-28-1\n",
                                                 "    python -m bannet run mnist-mlp\n"]}
    notebook = tmp_path / "chapter.ipynb"
    notebook.write_text(json.dumps({"cells": [cell("markdown", "Two words\n```python\nx = 1\n```"),
                                              cell("code", "print()", [printed])]}))
    assert word_counts(notebook) == (2, 4)
