"""The serving entry point: uvicorn over the app, gc.freeze after start-up in the serving process only."""

from __future__ import annotations

import asyncio
import gc
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from crispml.api.app import create_app
from crispml.api.server import SETTINGS_ENV, serving_app, settings_from
from crispml.settings import Settings
from tests.api.conftest import free_port


@pytest.fixture
def unfrozen() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()


def frozen_while_started(app: FastAPI) -> int:
    """How many objects gc.freeze() set aside once the app's start-up ran (as uvicorn runs it)."""

    async def started() -> int:
        async with app.router.lifespan_context(app):
            assert app.state.services.lifecycle is not None
            return gc.get_freeze_count()

    return asyncio.run(started())


@pytest.mark.usefixtures("unfrozen")
def test_the_app_factory_freezes_nothing_and_the_serving_app_freezes_after_start_up(tmp_path: Path) -> None:
    assert frozen_while_started(create_app(Settings(home=tmp_path / "a"))) == 0
    served = serving_app(Settings(home=tmp_path / "b"))
    assert gc.get_freeze_count() == 0  # nothing happens until start-up
    assert frozen_while_started(served) > 0


def test_worker_processes_get_the_settings_run_was_given(tmp_path: Path) -> None:
    given = Settings(home=tmp_path, user="someone", job_workers=3)
    assert settings_from({SETTINGS_ENV: given.model_dump_json()}) == given


def test_run_serves_the_api(tmp_path: Path) -> None:
    port = free_port()
    code = (
        "from pathlib import Path; from crispml.api.server import run; from crispml.settings import Settings; "
        f"run(Settings(home=Path({str(tmp_path)!r})), port={port}, log_level='warning')"
    )
    process = subprocess.Popen([sys.executable, "-c", code])
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None and time.monotonic() < deadline
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/v2", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        assert answer.json()["name"] == "crispml"
    finally:
        process.terminate()
        process.wait(timeout=30)
