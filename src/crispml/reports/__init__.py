"""Reports as pictures: the model report's and the verification's answers drawn as SVG or PNG, and as
self-contained HTML pages. Pure: an answer (a JSON dict) in, bytes or text out; nothing is read or written.

matplotlib is imported only when a picture is drawn, so nothing that merely imports this starts slower.
"""

from __future__ import annotations

from crispml.reports.drawing import MEDIA_TYPES, PNG_SIZE
from crispml.reports.figures import REPORT_PLOTS, VERIFICATION_PLOTS, report_plot, verification_plot
from crispml.reports.pages import report_page, verification_page

__all__ = [
    "MEDIA_TYPES",
    "PNG_SIZE",
    "REPORT_PLOTS",
    "VERIFICATION_PLOTS",
    "report_page",
    "report_plot",
    "verification_page",
    "verification_plot",
]
