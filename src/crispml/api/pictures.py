"""How the report and verification routes answer pictures (SVG, PNG) and pages (HTML).

A picture or a page fetches nothing (the page's own policy says so too); the same policy goes out as a
header, so an SVG opened on its own can run nothing either.
"""

from __future__ import annotations

from typing import Any

from fastapi import Response
from fastapi.responses import HTMLResponse

from crispml.reports import MEDIA_TYPES

_POLICY = {"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:"}

IMAGE_CONTENT: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The picture: SVG (format=svg, the default) or PNG (format=png).",
        "content": {
            MEDIA_TYPES["svg"]: {"schema": {"type": "string"}},
            MEDIA_TYPES["png"]: {"schema": {"type": "string", "format": "binary"}},
        },
    }
}
"""The `responses=` entry of a picture route."""
PAGE_CONTENT: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The answer as JSON, or with format=html a self-contained page with its pictures.",
        "content": {"text/html": {"schema": {"type": "string"}}},
    }
}
"""The `responses=` entry of a route that answers JSON or, with format=html, a page."""


def image(data: bytes, image_format: str, filename: str) -> Response:
    """A picture, named for whoever saves it."""
    disposition = {"Content-Disposition": f'inline; filename="{filename}.{image_format}"'}
    return Response(data, media_type=MEDIA_TYPES[image_format], headers={**_POLICY, **disposition})


def page(text: str) -> HTMLResponse:
    return HTMLResponse(text, headers=_POLICY)
