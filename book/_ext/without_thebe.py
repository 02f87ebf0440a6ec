"""The book's code runs in Colab, not in the page, so the page needs none of sphinx-thebe's scripts. Jupyter Book
loads that extension always, and its inline configuration (`const THEBE_JS_URL = ...`) reaches each page twice,
which logs a SyntaxError in the browser; this extension stops it from adding its scripts at all."""

from sphinx.application import Sphinx


def setup(app: Sphinx) -> dict:
    """Remove sphinx-thebe's listener that adds its scripts (it is registered before this extension loads)."""
    listeners = app.events.listeners["env-before-read-docs"]
    listeners[:] = [listener for listener in listeners
                    if getattr(listener.handler, "__qualname__", "") != "init_thebe_core"]
    return {"parallel_read_safe": True, "parallel_write_safe": True}
