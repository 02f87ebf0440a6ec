"""How much of each chapter is written and how much is generated: words of prose in markdown cells against words of
prose in the text and Markdown outputs of code cells (what the package prints into the chapter), per notebook.
Tables (Markdown rows, and text aligned in columns) and code (fenced listings, and lines indented by four spaces, as
Markdown reads them: the commands a chapter prints) are not prose (tables carry the numbers; code is the package's
or the shell's) and count on neither side.

A chapter is written by a person; generated text is one verdict line per tested claim. The book's rule: generated
words at most 20% of a chapter's words (tests/test_chapter_words.py holds it).

    python benchmarks/chapter_words.py notebooks/*.ipynb
"""

import argparse
import json
import re
from pathlib import Path

from bannet.formatting import table_rows

GENERATED_SHARE_LIMIT = 0.20
_WORD = re.compile(r"[A-Za-z][A-Za-z'’-]*")  # words, not numbers or Markdown markup
_CODE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)
_NOT_PROSE = re.compile(r"^\s*\||\S {3,}\S|^ {4}")  # a Markdown row, text aligned in columns, an indented code line


def _words(text: str | list[str]) -> int:
    """Number of prose words in a cell's source or an output's text: code and table rows left out."""
    prose = _CODE.sub("", "".join(text) if isinstance(text, list) else text)
    return sum(len(_WORD.findall(line)) for line in prose.splitlines() if not _NOT_PROSE.search(line))


def _output_text(output: dict) -> str:
    """The text an output shows a reader: a stream, or the Markdown / plain text of a display (not figures)."""
    if output.get("output_type") == "stream":
        return "".join(output.get("text", []))
    data = output.get("data", {})
    for kind in ("text/markdown", "text/plain"):
        if kind in data and "image/png" not in data:
            return "".join(data[kind])
    return ""


def word_counts(notebook: Path) -> tuple[int, int]:
    """(written words in markdown cells, generated words in code cells' text outputs) of one notebook."""
    cells = json.loads(Path(notebook).read_text())["cells"]
    written = sum(_words(cell["source"]) for cell in cells if cell["cell_type"] == "markdown")
    generated = sum(_words(_output_text(out)) for cell in cells if cell["cell_type"] == "code"
                    for out in cell.get("outputs", []))
    return written, generated


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebooks", nargs="+", type=Path)
    args = parser.parse_args()
    rows = []
    for notebook in args.notebooks:
        written, generated = word_counts(notebook)
        share = generated / max(written + generated, 1)
        rows.append([notebook.stem, f"{written:,}", f"{generated:,}", f"{share:.0%}"])
    print(table_rows(["chapter", "written words", "generated words", "generated share"], rows))


if __name__ == "__main__":
    main()
