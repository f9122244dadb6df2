"""Operations: performance records, the REST server and the reference demo."""

from __future__ import annotations

import errno
import ipaddress
import socket
import ssl
import time
from pathlib import Path
from typing import Annotated, Literal

import typer

from crispml.cli import render
from crispml.cli.data import REFERENCE_ROWS
from crispml.cli.models import model_line
from crispml.cli.options import (
    AlgorithmOption,
    FormatOption,
    JsonOption,
    RemoteOption,
    output_format,
)
from crispml.cli.render import OutputFormat
from crispml.cli.session import local, parse_params, progress
from crispml.errors import InvalidInput, PortInUse

PERF_COLUMNS = [
    "method",
    "calls",
    "errors",
    "median_duration_s",
    "median_cpu_s",
    "median_rows_in",
    "max_peak_rss_mb",
]
DEMO_COLUMNS = ["frame", "scored", "labelled", "roc_auc", "report_roc_auc", "pr_auc", "precision", "recall", "f1",
                "positives"]  # fmt: skip


LogLevel = Literal["critical", "error", "warning", "info", "debug", "trace"]


def perf(
    method: Annotated[str | None, typer.Option(help="Only this method.")] = None,
    limit: Annotated[int, typer.Option(help="How many recent records.")] = 1000,
    remote: RemoteOption = None,
    output: FormatOption = OutputFormat.TABLE,
    as_json: JsonOption = False,
) -> None:
    """Performance records of method calls, with medians per method."""
    from crispml.cli.session import backend

    with backend(remote) as c:
        result = c.perf(method, limit)
    rows = [
        {
            **s,
            "median_duration_s": f"{s['median_duration_s']:.3f}",
            "median_cpu_s": f"{s['median_cpu_s']:.3f}",
            "max_peak_rss_mb": f"{s['max_peak_rss_mb']:.0f}",
            "median_rows_in": None if s["median_rows_in"] is None else f"{s['median_rows_in']:.10g}",
        }
        for s in result["summary"]
    ]
    chosen = output_format(output, as_json)
    render.emit(result, result["summary"] if chosen is OutputFormat.CSV else rows, PERF_COLUMNS, chosen,
                keys=["method"], title="performance (medians)")  # fmt: skip


def check_port(host: str, port: int) -> None:
    """Refuse a port another process listens on, before the server starts (uvicorn would log and exit 1)."""
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
            probe.bind((host, port))
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise PortInUse(f"port {port} on {host} is already in use; stop that process or pick --port") from None
        raise InvalidInput(f"cannot listen on {host}:{port}: {exc.strerror or exc}", field="host") from None


def is_loopback(host: str) -> bool:
    """Whether `host` is only reachable from this machine (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # any other host name may resolve to a reachable interface
        return False


def serve(
    host: Annotated[
        str, typer.Option(help="Interface to listen on. Any but loopback requires API keys and an admin user.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.", min=0, max=65535)] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes.", min=1)] = 1,
    log_level: Annotated[
        LogLevel, typer.Option("--log-level", help="uvicorn's own log level (crispml's: CRISPML_LOG_LEVEL).")
    ] = "info",
    ssl_certfile: Annotated[
        Path | None, typer.Option("--ssl-certfile", help="PEM certificate (chain): serve HTTPS only.")
    ] = None,
    ssl_keyfile: Annotated[Path | None, typer.Option("--ssl-keyfile", help="PEM key of --ssl-certfile.")] = None,
) -> None:
    """Serve the REST API (OpenAPI at /docs, the admin console at /console); HTTPS with --ssl-certfile/--ssl-keyfile.

    Requests need an API key (Authorization: Bearer) whenever HOST is not loopback, or with
    CRISPML_REQUIRE_KEYS=1; then an admin user must exist (`crispml users create NAME --role admin`).
    """
    from crispml.api.server import run
    from crispml.container import Container
    from crispml.settings import load_settings

    settings = load_settings()  # a bad setting is one line here, not a traceback in every worker
    check_tls(ssl_certfile, ssl_keyfile)
    if not is_loopback(host):
        settings = settings.model_copy(update={"require_keys": True})
    if settings.require_keys:
        with Container(settings) as container:
            container.access.require_admin(f"serving on {host}")
    check_port(host, port)
    run(settings, host=host, port=port, workers=workers, log_level=log_level, ssl_certfile=ssl_certfile,
        ssl_keyfile=ssl_keyfile)  # fmt: skip


def check_tls(certfile: Path | None, keyfile: Path | None) -> None:
    """Refuse a certificate and key that do not load together, before the server starts."""
    if certfile is None and keyfile is None:
        return
    if certfile is None or keyfile is None:
        raise InvalidInput("give both --ssl-certfile and --ssl-keyfile, or neither", field="ssl_certfile")
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(certfile, keyfile)
    except (OSError, ssl.SSLError) as exc:
        raise InvalidInput(
            f"cannot use certificate {certfile} with key {keyfile}: {getattr(exc, 'strerror', None) or exc}",
            field="ssl_certfile",
        ) from None


def demo(
    rows: Annotated[int, typer.Option(help="Rows of synthetic data.")] = REFERENCE_ROWS,
    algorithm: AlgorithmOption = "rf",
    param: Annotated[list[str] | None, typer.Option("--param", help="Hyper-parameter key=value.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Run the reference scenario (the pipeline pipelines/fraud.yaml) as one job and print a table per frame."""
    from crispml.jsonable import jsonable
    from crispml.services.demo import fraud_pipeline

    started = time.perf_counter()
    pipeline = fraud_pipeline(rows, algorithm, parse_params(param))
    with local() as backend, progress(not as_json) as step:
        c = backend.c
        result = backend.run_pipeline(pipeline, step("pipeline"))
        steps = result["steps"]
        raw = c.lifecycle.get_dataset(steps["ingest"]["dataset"])
        prepared = c.lifecycle.get_dataset(steps["prepare"]["dataset"])
        ref = steps["persist"]["model"]
        model = jsonable(c.lifecycle.get_model(ref))
        home = c.settings.home
    elapsed = time.perf_counter() - started
    verification = steps["verify"]["rows"]
    if as_json:
        render.print_json({"model": ref, "job": result["job"], "seconds": elapsed, "verification": verification})
        return
    render.line(f"pipeline {pipeline.name} ran as job {result['job']}: {', '.join(steps)}")
    render.line(f"ingested {raw.rows:,} rows into {raw.frames} frames -> {raw.name}/{raw.version}")
    render.line(f"prepared: {prepared.report['duplicates_removed']} duplicates removed -> {prepared.rows:,} rows")
    model_line(model)
    render.line(f"gates: {'; '.join(steps['gates']['passed'])}")
    render.line(f"scored {steps['score']['rows']:,} records of frames 7-12 in batch {steps['score']['batch']}")
    render.line(f"labelled {steps['label']['imported']:,} records ({steps['label']['positives']} frauds)")
    title = f"verification of {ref} on frames 7-12"
    render.table(list(jsonable(verification)), DEMO_COLUMNS, keys=["frame"], title=title)
    render.line(f"demo finished in {elapsed:.0f}s; state kept in {home}")
