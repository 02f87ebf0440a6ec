"""Bibliography entries labelled as the text cites them, "Furlanello et al. 2018", instead of pybtex's alpha labels
("FLT+18") that match nothing on the page."""

from pybtex.plugin import register_plugin
from pybtex.style.formatting.unsrt import Style as UnsrtStyle
from pybtex.style.labels import BaseLabelStyle
from sphinx.application import Sphinx


class AuthorYearLabels(BaseLabelStyle):
    """"Surname 2018", "Surname & Other 2018" or "Surname et al. 2018", with a, b, ... when two would clash."""

    def format_labels(self, sorted_entries):
        labels = [self._label(entry) for entry in sorted_entries]
        for label in labels:
            clashing = [i for i, other in enumerate(labels) if other == label]
            if len(clashing) > 1:
                for suffix, i in zip("abcdefghijklmnopqrstuvwxyz", clashing):
                    labels[i] = f"{label}{suffix}"
        yield from labels

    @staticmethod
    def _label(entry) -> str:
        people = entry.persons.get("author") or entry.persons.get("editor") or []
        surnames = [" ".join(person.last_names) for person in people] or [entry.fields.get("title", "?")]
        names = (surnames[0] if len(surnames) == 1 else f"{surnames[0]} & {surnames[1]}" if len(surnames) == 2
                 else f"{surnames[0]} et al.")
        return f"{names} {entry.fields.get('year', '')}".strip()


class AuthorYearStyle(UnsrtStyle):
    """pybtex's unsrt formatting, sorted by author and year, with author-year labels."""

    default_label_style = "author_year"
    default_sorting_style = "author_year_title"


def setup(app: Sphinx) -> dict:
    """Register the label and formatting styles with pybtex (bibtex_default_style: author_year selects them)."""
    register_plugin("pybtex.style.labels", "author_year", AuthorYearLabels)
    register_plugin("pybtex.style.formatting", "author_year", AuthorYearStyle)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
