"""`NbconvertRenderer`: an executed report notebook as one self-contained HTML page.

nbconvert's HTML exporter with the `report_template` template (shipped in this package): the
JupyterLab page without code (no inputs, no prompts; the parameters cells dropped) and without
anything fetched from a network (the lab template's require.js, MathJax, mermaid and widget
scripts come from CDNs; that template leaves them out). Plotly figures stay interactive:
plotly.js is embedded once, with the first figure after the notebook's `setup_notebook()`, and
each figure's output is a plain script that draws it (no require.js needed).

The page is written to a temporary file beside its destination and renamed into place, so a
reader never sees half a report.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Final

import nbformat
from nbconvert import HTMLExporter
from traitlets.config import Config

TEMPLATE: Final = Path(__file__).with_name("report_template")
HIDDEN_CELL_TAGS: Final = ("parameters", "injected-parameters")


class NbconvertRenderer:
    """The `HtmlRenderer` port: executed notebook → self-contained HTML without code."""

    def __init__(self, template: Path = TEMPLATE) -> None:
        self._template = template

    def render(self, notebook: Path, html: Path) -> None:
        node = nbformat.read(notebook, nbformat.NO_CONVERT)  # type: ignore[no-untyped-call]
        parameters = node.metadata.get("papermill", {}).get("parameters", {})
        title = str(parameters.get("title") or notebook.stem)  # the page's <title>
        page, _ = self._exporter().from_notebook_node(node, resources={"metadata": {"name": title}})
        write_atomically(html, page)

    def _exporter(self) -> HTMLExporter:
        config = Config()
        config.TagRemovePreprocessor.enabled = True
        config.TagRemovePreprocessor.remove_cell_tags = set(HIDDEN_CELL_TAGS)
        return HTMLExporter(  # type: ignore[no-untyped-call]
            config=config,
            extra_template_basedirs=[str(self._template.parent)],
            template_name=self._template.name,
            exclude_input=True,
            exclude_input_prompt=True,
            exclude_output_prompt=True,
        )


def write_atomically(path: Path, text: str) -> None:
    """Write `text` to `path` through a temporary file in the same folder and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            os.fchmod(out.fileno(), 0o644)  # mkstemp's 0600 would hide it from a web server
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
