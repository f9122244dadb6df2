"""Fitted models held in memory, one entry per artifact sha256.

An entry keeps the verified estimator, a serial copy of it for small inputs, and its ONNX twin. Models
trained by this version of crispml carry a twin compiled at training time, loaded with the estimator
(sha256 checked, then proven against the estimator on probe rows). For older models a background
thread compiles one; callers are served by scikit-learn meanwhile, and a model that cannot be compiled
is logged once and keeps being scored by scikit-learn.

Compiling starts with the second small input a model gets in this process, not the first: a one-shot
process (a CLI call) then never pays for a twin it cannot use. The compiling thread is not a daemon,
because a daemon thread inside onnxruntime's C++ while the interpreter exits aborts the process; an
exiting process therefore waits for a compile in flight.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from crispml.observability import metrics
from crispml.ports import Storage
from crispml.steps import fast_path, model_codec

log = logging.getLogger("crispml.scoring")
ONNX = ".onnx"


@dataclass
class _Entry:
    estimator: Any
    serial: Any
    twin: fast_path.OnnxTwin | None = None
    small_inputs: int = 0
    compiling: bool = False
    compiled: threading.Event = field(default_factory=threading.Event)


class ModelCache:
    def __init__(self, load: Callable[[str, str], Any], load_twin: Callable[[str], bytes]) -> None:
        """`load(sha256, format)` returns the estimator, `load_twin(sha256)` the ONNX bytes, each read
        from artifact bytes it has verified."""
        self._load = load
        self._load_twin = load_twin
        self._entries: dict[str, _Entry] = {}
        self._lock = threading.Lock()
        """Guards the entries and counters; never held while a model is read."""
        self._loading: dict[str, threading.Lock] = {}
        """One lock per model, held while it is read: concurrent first callers read it once."""
        self._paths: Counter[str] = Counter()

    def estimator(self, sha256: str, artifact_format: str) -> Any:
        """The model as stored (loaded once per process), parallel settings and all."""
        return self._entry(sha256, artifact_format, None).estimator

    def scorer(self, sha256: str, artifact_format: str, rows: int, twin_sha256: str | None = None) -> fast_path.Scorer:
        """The fastest way to score `rows` rows with this model that gives scikit-learn's answer
        (within `fast_path.TOLERANCE`)."""
        entry = self._entry(sha256, artifact_format, twin_sha256)
        if entry.twin is not None:
            scorer = fast_path.Scorer("onnx", entry.serial if rows < fast_path.SMALL else entry.estimator, entry.twin)
        elif rows >= fast_path.SMALL:
            scorer = fast_path.Scorer("parallel", entry.estimator)
        else:
            self._start_compiling(sha256, entry)
            scorer = fast_path.Scorer("serial", entry.serial)
        with self._lock:
            self._paths[scorer.kind] += 1
        return scorer

    def loaded_scorer(
        self, sha256: str, artifact_format: str, rows: int, twin_sha256: str | None
    ) -> fast_path.Scorer | None:
        """`scorer`, if this model (and its stored twin) is already in memory; None rather than load it."""
        with self._lock:
            entry = self._entries.get(sha256)
            if entry is None or (twin_sha256 is not None and not entry.compiling):
                return None
        return self.scorer(sha256, artifact_format, rows, twin_sha256)

    def forget(self, sha256: str) -> None:
        """Drop this model from memory: its file changed, so the next caller reads (and verifies) it again."""
        with self._lock:
            self._entries.pop(sha256, None)

    def fast_path_ready(self, sha256: str, wait: float = 0.0) -> bool:
        """Whether small inputs of this model are scored by its ONNX twin.

        Waits up to `wait` seconds for a compile in flight; returns False at once if none has started.
        """
        with self._lock:
            entry = self._entries.get(sha256)
            if entry is None or not entry.compiling:
                return False
        entry.compiled.wait(wait)
        return entry.twin is not None

    @property
    def paths_taken(self) -> dict[str, int]:
        """How many scoring calls took each path ('onnx', 'serial', 'parallel') in this process."""
        with self._lock:
            return dict(self._paths)

    def _entry(self, sha256: str, artifact_format: str, twin_sha256: str | None) -> _Entry:
        with self._lock:
            entry = self._entries.get(sha256)
            if entry is not None and (twin_sha256 is None or entry.compiling):
                return entry
            loading = self._loading.setdefault(sha256, threading.Lock())
        # Reading and verifying a model takes most of a second: only callers of this model wait for it,
        # while models already in memory go on being served (`loaded_scorer` never waits for a load).
        with loading:
            with self._lock:
                entry = self._entries.get(sha256)
            if entry is None:
                estimator = self._load(sha256, artifact_format)
                metrics.model_loaded("model")
                entry = _Entry(estimator, fast_path.serial_copy(estimator))
            if twin_sha256 is not None and not entry.compiling:
                # A stored twin is loaded once, like a compiled one; a tampered file raises and is retried.
                twin = self._stored_twin(sha256, twin_sha256, entry.estimator)
                with self._lock:
                    entry.twin, entry.compiling = twin, True
                entry.compiled.set()
            with self._lock:
                self._entries[sha256] = entry
            return entry

    def _stored_twin(self, sha256: str, twin_sha256: str, estimator: Any) -> fast_path.OnnxTwin | None:
        try:
            twin = fast_path.load_twin(self._load_twin(twin_sha256), estimator)
        except fast_path.FastPathUnavailable as exc:
            log.warning("model %s keeps scikit-learn scoring: stored twin %s: %s", sha256[:12], twin_sha256[:12], exc)
            return None
        metrics.model_loaded("twin")
        return twin

    def _start_compiling(self, sha256: str, entry: _Entry) -> None:
        with self._lock:
            entry.small_inputs += 1
            if entry.compiling or entry.small_inputs < 2:
                return
            entry.compiling = True
        threading.Thread(target=self._compile, args=(sha256, entry), name=f"crispml-onnx-{sha256[:12]}").start()

    def _compile(self, sha256: str, entry: _Entry) -> None:
        try:
            entry.twin = fast_path.compile_or_none(entry.estimator, f"model {sha256[:12]}")
        finally:
            entry.compiled.set()


def model_cache(store: Storage) -> ModelCache:
    """A cache of the models in `store`, each read from bytes whose sha256 was checked."""

    def load(sha256: str, artifact_format: str) -> Any:
        return model_codec.decode(store.model_bytes(sha256, model_codec.SUFFIX[artifact_format]), artifact_format)

    return ModelCache(load, lambda sha256: store.model_bytes(sha256, ONNX))
