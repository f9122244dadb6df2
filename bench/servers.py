"""Servers the serving benchmark starts and stops: crispml, `mlflow models serve` and the bare floor app."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from crispml.steps import fast_path
from crispml.steps.algorithms import BoosterModel
from crispml.steps.model_codec import TRUSTED_SKOPS_TYPES


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def spawn(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """Start a server in a session of its own (a Ctrl-C at the terminal reaches its parent only), output to `log`."""
    with log.open("wb") as output:
        return subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True)


def wait_ready(process: subprocess.Popen[bytes], ready_url: str, log: Path, timeout_s: float = 120) -> None:
    """Poll `ready_url` until it answers 200; raise with the log's tail if the process exits or time runs out."""
    name = Path(str(process.args[0] if isinstance(process.args, list) else process.args)).name
    deadline = time.monotonic() + timeout_s
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited during start-up:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(ready_url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{name} did not answer {ready_url} within {timeout_s:g} s")
        time.sleep(0.2)


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the process's group, SIGKILL after 30 s; returns once it is reaped."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@contextmanager
def _server(command: list[str], env: dict[str, str], ready_url: str, log: Path) -> Iterator[None]:
    """Run a server in its own process group until the block ends; wait until `ready_url` answers 200."""
    process = spawn(command, env, log)
    try:
        wait_ready(process, ready_url, log)
        yield
    finally:
        stop(process)


def _bin(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


@contextmanager
def crispml_server(home: Path, database_url: str | None, workers: int, tmp: Path) -> Iterator[str]:
    """A crispml server; with CRISPML_BENCH_KEYS=1 it requires API keys, and this process's load (wrk)
    sends a scorer's key (set as CRISPML_API_KEY here: see `bench.load.wrk`)."""
    port = free_port()
    env = {**os.environ, "CRISPML_HOME": str(home)}
    env.pop("CRISPML_DATABASE_URL", None)
    if database_url:
        env["CRISPML_DATABASE_URL"] = database_url
    if os.environ.get("CRISPML_BENCH_KEYS") == "1":
        env["CRISPML_REQUIRE_KEYS"] = "1"
        os.environ["CRISPML_API_KEY"] = _bench_keys(home, database_url)
    # uvicorn's own loggers; crispml's access lines (one per request) follow CRISPML_ACCESS_LOG.
    log_level = os.environ.get("CRISPML_BENCH_LOG_LEVEL", "warning")
    command = [_bin("crispml"), "serve", "--port", str(port), "--workers", str(workers), "--log-level", log_level]
    url = f"http://127.0.0.1:{port}"
    with _server(command, env, f"{url}/readyz", tmp / f"crispml-{port}.log"):
        yield url


def _bench_keys(home: Path, database_url: str | None) -> str:
    """An admin (a keyed server needs one to start) and a scorer on the store; the scorer's key."""
    import secrets

    from crispml.container import Container
    from crispml.settings import Settings

    suffix = secrets.token_hex(3)
    with Container(Settings(home=home, database_url=database_url)) as container:
        container.access.create(f"bench-admin-{suffix}", "admin")
        return container.access.create(f"bench-scorer-{suffix}", "scorer").key


@contextmanager
def mlflow_server(model_dir: Path, tmp: Path) -> Iterator[str]:
    port = free_port()
    # mlflow starts `uvicorn` through bash: it must find this environment's. One OpenMP thread, as
    # crispml scores one record (HistGradientBoosting would otherwise predict on every core).
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    env = {**os.environ, "PATH": path, "MLFLOW_TRACKING_URI": f"file://{tmp / 'mlruns'}", "OMP_NUM_THREADS": "1"}
    command = [_bin("mlflow"), "models", "serve", "-m", str(model_dir), "-h", "127.0.0.1", "-p", str(port)]
    url = f"http://127.0.0.1:{port}"
    with _server([*command, "--env-manager", "local"], env, f"{url}/ping", tmp / f"mlflow-{port}.log"):
        yield url


@contextmanager
def bare_server(booster: BoosterModel, features: list[str], tmp: Path) -> Iterator[str]:
    port = free_port()
    model = tmp / "bare-model.lgbm.txt"
    model.write_text(booster.booster.model_to_string())
    env = {**os.environ, "BARE_APP_DB": str(tmp / "bare.db"), "BARE_APP_MODEL": str(model)}
    env["BARE_APP_FEATURES"] = ",".join(features)
    command = [_bin("uvicorn"), "bench.bare_app:app", "--port", str(port), "--log-level", "warning"]
    command += ["--loop", "uvloop", "--http", "httptools", "--app-dir", str(Path(__file__).resolve().parents[1])]
    url = f"http://127.0.0.1:{port}"
    with _server(command, env, f"{url}/docs", tmp / f"bare-{port}.log"):
        yield url


def save_mlflow_model(estimator: Any, features: list[str], path: Path) -> None:
    """The fitted estimator as an MLflow model answering P(class 1) like crispml's score, predicting on
    one thread (scikit-learn's `n_jobs=1`, LightGBM's `num_threads=1`)."""
    import mlflow.sklearn
    import pandas as pd
    from mlflow.models import infer_signature

    example = pd.DataFrame([np.zeros(len(features))], columns=features)
    if isinstance(estimator, BoosterModel):
        import lightgbm
        import mlflow.lightgbm

        text = re.sub(r"\[num_threads: \d+\]", "[num_threads: 1]", estimator.booster.model_to_string())
        booster = lightgbm.Booster(model_str=text)
        signature = infer_signature(example, booster.predict(example.to_numpy()))
        mlflow.lightgbm.save_model(booster, str(path), signature=signature)
        return
    estimator = fast_path.serial_copy(estimator)
    mlflow.sklearn.save_model(
        estimator,
        str(path),
        serialization_format="skops",
        skops_trusted_types=list(TRUSTED_SKOPS_TYPES),
        pyfunc_predict_fn="predict_proba",
        signature=infer_signature(example, estimator.predict_proba(example.to_numpy())),
    )
