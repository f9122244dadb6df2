"""How a picture is drawn and written: one figure size, colour-blind-safe colours, SVG or PNG bytes.

matplotlib is imported inside `render` (never at import: the server and the CLI start without it), and
drawn with the Agg canvas through its object API only (no pyplot, no global figure list). Its settings
are global, so one lock covers the settings and the drawing: pictures are drawn one at a time.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from crispml.contract.requests import ImageFormat

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from matplotlib.typing import RcKeyType

MEDIA_TYPES: dict[str, str] = {"svg": "image/svg+xml", "png": "image/png"}
"""The media type of each image format."""

SIZE_IN = (8.0, 4.5)
"""Every figure's size in inches: 16:9, a slide's shape."""
PNG_DPI = 150
PNG_SIZE = (round(SIZE_IN[0] * PNG_DPI), round(SIZE_IN[1] * PNG_DPI))
"""A PNG's width and height in pixels (1200 x 675)."""

# Okabe and Ito's palette, told apart by people with any common colour-vision deficiency.
BLUE, ORANGE, GREEN, VERMILLION, PURPLE, SKY = "#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9"
GREY = "#6E6E6E"  # secondary text and reference lines
SERIES = (BLUE, ORANGE, GREEN, VERMILLION, PURPLE, SKY)
"""Colours of successive series, in order."""
MARKERS = ("o", "s", "^", "D", "v", "P")
"""Markers of successive series: a second cue besides the colour."""
SEQUENTIAL = "cividis"
"""The colour map of quantities: designed to read the same with colour-vision deficiencies."""

_SETTINGS: dict[RcKeyType, Any] = {
    "svg.fonttype": "none",  # text stays text: small, searchable, selectable
    "svg.hashsalt": "crispml",  # the same picture gives the same bytes
    "text.parse_math": False,  # a column named "$x" is a name, not TeX to parse (or fail on)
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans"],  # shipped with matplotlib: never looked up elsewhere
    "font.size": 10,
    "axes.titlesize": 12,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": "#DDDDDD",
    "grid.linewidth": 0.6,
    "legend.frameon": False,
}
_LOCK = threading.Lock()

Draw = Callable[["Figure"], None]


def render(draw: Draw, image_format: ImageFormat) -> bytes:
    """The figure `draw` fills in, as SVG or PNG bytes."""
    if image_format not in MEDIA_TYPES:
        from crispml.errors import InvalidInput

        raise InvalidInput(f"format {image_format!r} is not one of svg, png", field="format")
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    with _LOCK, matplotlib.rc_context(_SETTINGS):
        figure = Figure(figsize=SIZE_IN, layout="constrained")
        FigureCanvasAgg(figure)
        draw(figure)
        out = io.BytesIO()
        # No metadata: no date, no software version; the same answer gives the same picture.
        metadata: dict[str, Any] = (
            {"Date": None, "Creator": None, "Format": None, "Type": None}
            if image_format == "svg"
            else {"Software": None}
        )
        figure.savefig(out, format=image_format, dpi=PNG_DPI, metadata=metadata)
    return out.getvalue()


def title(figure: Figure, axes: Axes, text: str, subtitle: str) -> None:
    """The figure's title (what it shows) and, under it, which model, frames and threshold."""
    figure.suptitle(text, fontsize=13, fontweight="bold")
    axes.set_title(subtitle, fontsize=10, color=GREY)


def empty(axes: Axes, why: str) -> None:
    """An axes with nothing to draw: says why, in words, in the middle."""
    axes.grid(False)
    axes.set_xticks([])
    axes.set_yticks([])
    axes.text(0.5, 0.5, why, ha="center", va="center", transform=axes.transAxes, color=GREY, wrap=True)


def decimals(value: Any) -> str:
    """A KPI as the pictures and pages print it: four decimals, or a dash for none."""
    return "–" if value is None else f"{float(value):.4f}"
