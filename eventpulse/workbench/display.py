"""Showing figures in notebooks offline, in JupyterLab and in exported HTML alike.

Plotly 6+ gives a kernel only its JSON mimetype by default, which JupyterLab draws but which
an HTML export (nbconvert, papermill reports) leaves blank. The `eventpulse` renderer set up
here gives each figure both the JSON mimetype and an HTML view, and embeds plotly.js once, in
the output of the first figure shown after `setup_notebook()` (just before that figure):
nothing is fetched from a CDN (no MathJax either), so notebooks and reports render without
network access.
"""

from __future__ import annotations

from typing import Any, Final

RENDERER: Final = "eventpulse"


def setup_notebook(*, max_columns: int = 40) -> None:
    """Make `eventpulse` plotly's default renderer (plotly.js is embedded with the first figure
    shown) and widen pandas' display. Call it once, in a notebook's first code cell."""
    import pandas as pd
    import plotly.io as pio

    pio.renderers[RENDERER] = _offline_renderer()
    pio.renderers.default = RENDERER
    pd.set_option("display.max_columns", max_columns)
    pd.set_option("display.width", 200)


def _offline_renderer() -> Any:
    from plotly.io import to_html
    from plotly.io._base_renderers import NotebookRenderer, PlotlyRenderer

    class OfflineRenderer(NotebookRenderer):  # type: ignore[misc]
        """plotly's own notebook renderer (plotly.js inline, once), minus the MathJax CDN,
        plus the JSON mimetype that JupyterLab draws natively."""

        def __init__(self) -> None:
            super().__init__(connected=False)

        def to_mimebundle(self, fig_dict: Any) -> dict[str, Any]:
            view = to_html(
                fig_dict,
                config=self.config,
                include_plotlyjs=False,
                include_mathjax=False,
                full_html=False,
                default_width="100%",
                default_height=525,
                validate=False,
            )
            bundle: dict[str, Any] = PlotlyRenderer().to_mimebundle(fig_dict)  # JSON-safe
            return bundle | {"text/html": view}

    return OfflineRenderer()
