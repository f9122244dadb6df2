"""The admin console: a static front-end (HTML, CSS and JavaScript modules, no build step) that talks to
the REST API over HTTP with the user's key, and to nothing else.

This package holds its files only. `crispml serve` serves them at /console (`crispml.api.routes.console`);
`crispml console --remote URL` serves them beside a proxy of /api/* to another server
(`crispml.api.console_proxy`).
"""

from __future__ import annotations

import re
from pathlib import Path

ASSETS = Path(__file__).parent / "static"
"""The console's files: index.html, style.css, *.js and pages/*.js."""

MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
_ASSET = re.compile(r"(?:[a-z0-9-]+/)?[a-z0-9-]+\.(?:html|js|css|svg)")

SECURITY_HEADERS = {
    # Everything comes from this origin; plots are object URLs of images fetched with the key.
    "content-security-policy": (
        "default-src 'self'; img-src 'self' blob: data:; style-src 'self'; script-src 'self'; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
    ),
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "cache-control": "no-cache",
}


def asset(name: str) -> Path | None:
    """The file of a console asset named like `app.js` or `pages/train.js`; None for any other name."""
    if not _ASSET.fullmatch(name):
        return None
    path = ASSETS / name
    return path if path.is_file() else None
