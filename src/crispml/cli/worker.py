"""`crispml worker`: run the jobs an API with CRISPML_JOB_RUNNER=workers queued (see crispml.services.worker)."""

from __future__ import annotations

import logging
import logging.config
import signal
from types import FrameType
from typing import Annotated

import typer


def worker(
    concurrency: Annotated[int, typer.Option(help="Jobs this process runs at once.", min=1, max=64)] = 1,
) -> None:
    """Claim queued jobs from the database and run them, until SIGTERM or SIGINT.

    Run as many as you like, on any host that reaches the database and the artifact store, beside API
    processes started with CRISPML_JOB_RUNNER=workers. On SIGTERM a worker claims nothing more; a job it
    runs goes back to the queue at its next progress report (or finishes, if it gets there first).
    """
    from crispml.container import Container, logging_config
    from crispml.settings import load_settings

    settings = load_settings()
    logging.config.dictConfig(logging_config(settings))  # as `crispml serve` logs: its job lines alike
    with Container(settings) as container:
        running = container.worker(concurrency)

        def stop(signum: int, _frame: FrameType | None) -> None:
            logging.getLogger(__name__).info("%s: stopping", signal.Signals(signum).name)
            running.stop()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        typer.echo(f"{running.name} runs up to {concurrency} job(s) at once", err=True)
        running.serve()
