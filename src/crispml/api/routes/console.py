"""The admin console's page and assets at /console: static files, public (each thing they show is asked of
the API with the user's key, and answered only to the roles the permission table grants)."""

from __future__ import annotations

from pathlib import PurePosixPath

from fastapi import APIRouter
from fastapi.responses import FileResponse, RedirectResponse

from crispml.console import MEDIA_TYPES, SECURITY_HEADERS, asset
from crispml.errors import NotFound

router = APIRouter(prefix="/console", include_in_schema=False)


@router.get("")
async def console_root() -> RedirectResponse:
    return RedirectResponse("console/", status_code=308)


@router.get("/")
async def console_page() -> FileResponse:
    return _file("index.html")


@router.get("/{name:path}")
async def console_asset(name: str) -> FileResponse:
    return _file(name)


def _file(name: str) -> FileResponse:
    path = asset(name)
    if path is None:
        raise NotFound(f"the console has no file {name[:100]!r}")
    media_type = MEDIA_TYPES[PurePosixPath(name).suffix]
    return FileResponse(path, media_type=media_type, headers=SECURITY_HEADERS)
