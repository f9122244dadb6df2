"""Prometheus metrics: the series `GET /metrics` exposes, as module-level prometheus-client objects.

Label values are bounded: route templates (never raw paths or ids), method names, model names and
versions, frames, job states. Nothing here is called per row: the HTTP middleware observes one histogram
per request, the scoring service counts per batch, the group commit per group. The histograms observed
per request and the scores-written counters are tallied and folded into their series in bulk
(`crispml.observability.tally`), at every scrape and every second.

With several worker processes (`crispml serve --workers N`) the server sets `PROMETHEUS_MULTIPROC_DIR`
before the workers import prometheus-client: every worker then writes its values to files there, and
`exposition` sums them (prometheus-client's multiprocess mode). Other modules may define their own
metrics in prometheus-client's default registry: `exposition` answers them too.

What the database holds (aliases, jobs) is read when scraped (`state_exposition`), so every worker
answers the same and a moved alias leaves no stale series behind.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

from crispml.domain import PerfRecord
from crispml.observability.tally import FOLD_PAST, Tally, fold_all, tally

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
"""Where worker processes keep their values (prometheus-client's multiprocess mode), when set."""
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
"""What `exposition` writes: Prometheus's text format 0.0.4."""
UNMATCHED = "unmatched"
"""The route label of a request no route matched (a 404, a refused host): never its raw path."""

_MIB = 1024.0 * 1024.0
_HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

HTTP_REQUEST_DURATION = Histogram(
    "crispml_http_request_duration_seconds",
    "HTTP requests by route template, method and status: seconds from the first byte in to the last out.",
    ("route", "method", "status"),
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)
METHOD_DURATION = Histogram(
    "crispml_method_duration_seconds",
    "Perf spans of the nine methods (and the others measured) by method and outcome: wall seconds.",
    ("method", "outcome"),
    buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600),
)
METHOD_PEAK_RSS = Gauge(
    "crispml_method_peak_rss_bytes",
    "The process's peak resident memory when a call of this method last ended (the highest of the live workers).",
    ("method",),
    multiprocess_mode="livemax",
)
SCORES = Counter("crispml_scores", "Scores written to the ledger, by model name and version.", ("model", "version"))
SCORE_BATCHES = Counter("crispml_score_batches", "Score batches committed, by model name and version.",
                        ("model", "version"))  # fmt: skip
FALLBACK_SCORES = Counter(
    "crispml_fallback_scores",
    "Scores answered by a model name's fallback version because the version named could not be loaded, by "
    "name and reason (integrity, missing, unreadable).",
    ("name", "reason"),
)
LABELS_IMPORTED = Counter(
    "crispml_labels_imported",
    "Labels imported for records a model version scored, by model name and version (a record scored by two "
    "versions counts for each).",
    ("model", "version"),
)
SHADOW_SCORES = Counter("crispml_shadow_scores", "Scores a challenger wrote in the shadow, by model version.",
                        ("model",))  # fmt: skip
SHADOW_DROPPED = Counter("crispml_shadow_dropped",
                         "Records a challenger did not score in the shadow (queue full or a failure), by model name.",
                         ("model",))  # fmt: skip
LABELS_UNSCORED = Counter("crispml_labels_unscored", "Labels imported for records the ledger never scored.")
GROUP_COMMIT_SIZE = Histogram(
    "crispml_group_commit_size",
    "Units of work (score batches, perf records) committed together by one group commit.",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
)
GROUP_COMMIT_WAIT = Histogram(
    "crispml_group_commit_wait_seconds",
    "Seconds from handing the oldest unit of a group to the group commit until the group committed.",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
MODEL_CACHE_LOADS = Counter(
    "crispml_model_cache_loads", "Models (kind=model) and ONNX twins (kind=twin) read into this process's memory.",
    ("kind",),
)  # fmt: skip
RETRAIN_TRIGGERS = Counter(
    "crispml_retrain_triggers",
    "Retraining triggers by model, condition kind (new-labels, realized, estimated, drift, schedule) and outcome "
    "(fired, succeeded, failed).",
    ("model", "condition", "outcome"),
)
CHALLENGER_DECISIONS = Counter(
    "crispml_challenger_decisions",
    "Decisions of the challenger promotion policy by model and outcome (wait, kept, refused, promoted, proposed, "
    "approved, rejected).",
    ("model", "outcome"),
)
WEBHOOK_DELIVERIES = Counter(
    "crispml_webhook_deliveries", "Webhook delivery attempts by event and outcome (delivered, retried, failed).",
    ("event", "outcome"),
)  # fmt: skip
VERIFIED_LABELLED = Gauge(
    "crispml_verification_labelled_records",
    "Scored records with a label, by model, version and frame, as the last verification (NewDataReport) found.",
    ("model", "version", "frame"),
    multiprocess_mode="mostrecent",
)
VERIFIED_UNLABELLED = Gauge(
    "crispml_verification_unlabelled_records",
    "Scored records without a label yet, by model, version and frame, as the last verification found.",
    ("model", "version", "frame"),
    multiprocess_mode="mostrecent",
)
VERIFIED_KPI = Gauge(
    "crispml_verification_kpi",
    "A realized KPI (roc_auc, pr_auc, precision, recall, f1) of the labelled scores, by model, version and "
    "frame, as the last verification found.",
    ("model", "version", "frame", "kpi"),
    multiprocess_mode="mostrecent",
)
DRIFT_PSI = Gauge(
    "crispml_drift_psi",
    "Population stability index of a feature (or feature=score) over the last monitoring, by model and version.",
    ("model", "version", "feature"),
    multiprocess_mode="mostrecent",
)
DRIFT_LEVEL = Gauge(
    "crispml_drift_level",
    "Drift level of a feature (or feature=score) over the last monitoring: 0 ok, 1 warning, 2 alarm "
    "(none for a feature never judged).",
    ("model", "version", "feature"),
    multiprocess_mode="mostrecent",
)
INPUT_LOG_DROPPED = Counter(
    "crispml_input_log_dropped_records",
    "Records scored online whose inputs the input log did not keep (its buffer was full or a write failed).",
)
KPIS = ("roc_auc", "pr_auc", "precision", "recall", "f1")
"""The realized KPIs a verification row carries, as `crispml_verification_kpi` labels them."""
# -- performance before labels (CBPE, crispml.services.estimation) ------------------------------------
ESTIMATED_KPI = Gauge(
    "crispml_estimated_kpi",
    "A KPI (roc_auc, precision, recall, f1) estimated without labels from calibrated scores (CBPE), by model, "
    "version and frame; bound is estimate, low or high (the interval), as the last estimate found.",
    ("model", "version", "frame", "kpi", "bound"),
    multiprocess_mode="mostrecent",
)
ESTIMATE_ERROR = Gauge(
    "crispml_estimate_error",
    "Realized minus estimated KPI once labels arrived, by model, version and frame, as the last verification found.",
    ("model", "version", "frame", "kpi"),
    multiprocess_mode="mostrecent",
)
ESTIMATED_KPIS = ("roc_auc", "precision", "recall", "f1")


class _Children(dict[Any, Any]):
    """A metric's children by key, found by one dict read of the key as it comes (a tuple of the values,
    an int or enum among them; a single label's value alone); a key seen first is made by `labels()` from
    its values as text. `labels()` takes a lock and checks its arguments on every call, and building the
    label values first (`str(status)`, a tuple) cost as much again as a histogram's own observe: the
    per-request paths pay for neither."""

    def __init__(self, metric: Any) -> None:
        super().__init__()
        self._metric = metric

    def __missing__(self, key: Any) -> Any:
        values = key if isinstance(key, tuple) else (key,)
        found = self[key] = self._made(self._metric.labels(*map(str, values)))
        return found

    @staticmethod
    def _made(child: Any) -> Any:
        """What a key stands for, made from its child: the child itself."""
        return child


class _Tallies(_Children):
    """A histogram's (or counter's) tallies by key, as `_Children` finds its children: observing is an append."""

    @staticmethod
    def _made(child: Any) -> Tally:
        return tally(child)


def request_observer() -> Callable[[Mapping[str, Any], int, float], None]:
    """A recorder of one HTTP request that ended (its ASGI scope, status and seconds) for the API middleware
    (`crispml.api.request_end.RequestId`): by the template of the route that served it (the router wrote it
    into the scope; `unmatched` when none did, never the raw path), its method and its status."""
    tallies = _Tallies(HTTP_REQUEST_DURATION)

    def observe(scope: Mapping[str, Any], status: int, seconds: float) -> None:
        route = getattr(scope.get("route"), "path_format", None) or UNMATCHED
        method = scope["method"]
        if method not in _HTTP_METHODS:
            method = "OTHER"  # a client's method names are not a bounded label
        tallies[route, method, status].append(seconds)

    return observe


def perf_observer() -> Callable[[PerfRecord], None]:
    """A perf-record observer (see `crispml.observability.perf.add_perf_observer`) for the method series."""
    durations, peaks = _Tallies(METHOD_DURATION), _Children(METHOD_PEAK_RSS)
    peak_set: dict[str, float] = {}

    def observe(record: PerfRecord) -> None:
        durations[record.method, record.outcome].append(record.duration_s)
        peak = record.peak_rss_mb
        if peak_set.get(record.method) != peak:  # a high-water mark: it seldom moves
            peak_set[record.method] = peak
            peaks[record.method].set(peak * _MIB)

    return observe


def group_commit_observer() -> Callable[[int, float], None]:
    """An observer of group commits (`crispml.storage.group_commit.GroupCommit.observer`): the units a
    group committed, and how long ago the oldest was handed over."""
    sizes, waits = tally(GROUP_COMMIT_SIZE), tally(GROUP_COMMIT_WAIT)

    def observe(units: int, waited_s: float) -> None:
        sizes.append(units)
        waits.append(waited_s)

    return observe


_scores, _batches = _Tallies(SCORES), _Tallies(SCORE_BATCHES)
_fallback_scores = _Children(FALLBACK_SCORES)


def scores_written(model: str, version: int, rows: int) -> None:
    """One score batch of `rows` rows committed by model `model`, version `version`."""
    scores, batches = _scores[model, version], _batches[model, version]
    scores.append(rows)
    batches.append(1)
    if len(batches) > FOLD_PAST:  # metrics off: nobody scrapes, no folder thread runs
        scores.fold()
        batches.fold()


def fallback_scored(name: str, reason: str, rows: int) -> None:
    """`rows` scores of model `name` answered by its fallback version, because of `reason` (a bounded kind)."""
    _fallback_scores[name, reason].inc(rows)


def shadow_scored(model_ref: str, rows: int) -> None:
    """`rows` shadow scores written by the challenger version `model_ref` (name/version)."""
    SHADOW_SCORES.labels(model_ref).inc(rows)


def shadow_dropped(name: str, rows: int) -> None:
    """`rows` records of model `name` its challenger did not score in the shadow."""
    SHADOW_DROPPED.labels(name).inc(rows)


def labels_imported(by_version: Mapping[tuple[str, int], int], unscored: int) -> None:
    """A label import: its labels per (model, version) that scored their records, and those never scored."""
    for (model, version), count in by_version.items():
        LABELS_IMPORTED.labels(model, str(version)).inc(count)
    if unscored:
        LABELS_UNSCORED.inc(unscored)


def retrain_triggered(model: str, condition: str, outcome: str) -> None:
    """A retraining trigger of `model` by a condition of kind `condition` fired, succeeded or failed."""
    RETRAIN_TRIGGERS.labels(model, condition, outcome).inc()


def challenger_decided(model: str, outcome: str) -> None:
    """The challenger promotion policy (or a person, on its proposal) decided `outcome` for `model`."""
    CHALLENGER_DECISIONS.labels(model, outcome).inc()


def webhook_delivered(event: str, outcome: str) -> None:
    """One attempt to deliver `event`: delivered, retried (later) or failed (for good)."""
    WEBHOOK_DELIVERIES.labels(event, outcome).inc()


def model_loaded(kind: str) -> None:
    """A model (`kind` 'model') or its ONNX twin ('twin') was read into memory."""
    MODEL_CACHE_LOADS.labels(kind).inc()


def verified(rows: Iterable[Mapping[str, Any]]) -> None:
    """What a verification found, row by row (model 'name/version', frame, labelled, unlabelled, KPIs)."""
    for row in rows:
        model, _, version = str(row["model"]).rpartition("/")
        frame = "none" if row["frame"] is None else str(row["frame"])
        VERIFIED_LABELLED.labels(model, version, frame).set(row["labelled"])
        VERIFIED_UNLABELLED.labels(model, version, frame).set(row["unlabelled"])
        for kpi in KPIS:
            value = row.get(kpi)
            if value is not None:
                VERIFIED_KPI.labels(model, version, frame, kpi).set(value)


def estimated(rows: Iterable[Mapping[str, Any]]) -> None:
    """What an estimate found, row by row (model 'name/version', frame, KPIs and their intervals)."""
    for row in rows:
        model, _, version = str(row["model"]).rpartition("/")
        frame = "none" if row["frame"] is None else str(row["frame"])
        for kpi in ESTIMATED_KPIS:
            value, interval = row.get(kpi), (row.get("interval") or {}).get(kpi)
            if value is not None:
                ESTIMATED_KPI.labels(model, version, frame, kpi, "estimate").set(value)
            if interval is not None:
                ESTIMATED_KPI.labels(model, version, frame, kpi, "low").set(interval[0])
                ESTIMATED_KPI.labels(model, version, frame, kpi, "high").set(interval[1])


def estimate_errors(rows: Iterable[Mapping[str, Any]]) -> None:
    """The estimate's error (realized - estimated) per verification row that has both."""
    for row in rows:
        found = row.get("estimate")
        if not found:
            continue
        model, _, version = str(row["model"]).rpartition("/")
        frame = "none" if row["frame"] is None else str(row["frame"])
        for kpi, values in found["kpis"].items():
            if values["error"] is not None:
                ESTIMATE_ERROR.labels(model, version, frame, kpi).set(values["error"])


_DRIFT_LEVELS = ("ok", "warning", "alarm")


def drift_measured(name: str, version: int, rows: Iterable[Mapping[str, Any]]) -> None:
    """What a monitoring found overall, one series per feature of the model (bounded by its features)."""
    for row in rows:
        DRIFT_PSI.labels(name, str(version), row["feature"]).set(row["psi"])
        if row["level"] in _DRIFT_LEVELS:
            DRIFT_LEVEL.labels(name, str(version), row["feature"]).set(_DRIFT_LEVELS.index(row["level"]))


def input_log_dropped(rows: int) -> None:
    INPUT_LOG_DROPPED.inc(rows)


@dataclass(frozen=True)
class AliasInfo:
    """One alias as `crispml_model_info` labels it."""

    name: str
    alias: str
    version: int
    algorithm: str


class _State:
    def __init__(
        self,
        aliases: Sequence[AliasInfo],
        jobs: Mapping[str, int],
        build: Mapping[str, str],
        degraded: Mapping[str, str],
    ) -> None:
        self._aliases, self._jobs, self._build, self._degraded = aliases, jobs, build, degraded

    def collect(self) -> Iterator[Metric]:
        # Prometheus's info-metric pattern: one series =1 whose labels say what the server is (its version and
        # environment), joined onto any other series by `* on(instance) group_left(environment)`; the scrape
        # configuration's target label `environment` puts it on every series without widening any here.
        build = GaugeMetricFamily("crispml_build_info", "The server's crispml version and environment, =1.",
                                  labels=tuple(self._build))  # fmt: skip
        build.add_metric(tuple(self._build.values()), 1)
        yield build
        info = GaugeMetricFamily("crispml_model_info", "One series per model alias: the version it names, =1.",
                                 labels=("name", "alias", "version", "algorithm"))  # fmt: skip
        for alias in self._aliases:
            info.add_metric((alias.name, alias.alias, str(alias.version), alias.algorithm), 1)
        jobs = GaugeMetricFamily("crispml_jobs", "Jobs in the database by state.", labels=("state",))
        for state, count in sorted(self._jobs.items()):
            jobs.add_metric((state,), count)
        queued = GaugeMetricFamily("crispml_job_queue_depth", "Jobs queued and not yet started.",
                                   value=self._jobs.get("queued", 0))  # fmt: skip
        fallback = GaugeMetricFamily("crispml_fallback_active", "One series per model reference answered by its "
                                     "name's fallback version now, by the kind of reason, =1.",
                                     labels=("model", "reason"))  # fmt: skip
        for model, reason in sorted(self._degraded.items()):
            fallback.add_metric((model, reason.partition(":")[0]), 1)
        yield from (info, jobs, queued, fallback)


def state_exposition(
    aliases: Sequence[AliasInfo],
    jobs: Mapping[str, int],
    build: Mapping[str, str],
    degraded: Mapping[str, str] | None = None,
) -> bytes:
    """The series read when scraped: the server's build info (`build`: label to value, e.g. version and
    environment), model info per alias, jobs by state, queue depth (read from the database); and the
    references the answering process serves by their fallback (`degraded`, with the reasons)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_State(aliases, jobs, build, degraded or {}))
    return generate_latest(registry)


def exposition() -> bytes:
    """Every metric of this process (or, in multiprocess mode, of every worker), in the text format."""
    fold_all()
    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry)
    return generate_latest(REGISTRY)


def process_ended() -> None:
    """Forget this worker's live gauges (multiprocess mode): called as a worker process shuts down."""
    fold_all()  # the files keep a dead worker's histograms
    if os.environ.get(MULTIPROC_ENV):
        mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]
