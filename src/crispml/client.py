"""Python client of the crispml REST API (httpx), synchronous and asynchronous.

Both clients share one set of method definitions: each method describes its request and hands it to
`_call`, which the sync client runs at once and the async client returns as an awaitable. Errors come
back as the same `crispml.errors` classes the service raises; a server that cannot be reached (refused
connection, unknown host, timeout) raises `Unavailable` naming the URL.

A server that requires keys gets the `api_key` given, else the environment's `CRISPML_API_KEY`, as
`Authorization: Bearer <key>` on every request.

Long calls (ingest, upload, train, dataset scoring) run as jobs. By default the client blocks until
the job ends and hands back its result; `Client(url, wait_for_jobs=False)` hands back the queued job
instead, to follow with `job(id, wait=True, timeout=...)` and stop with `cancel_job(id)`.

An https URL is verified against the system's certificate authorities, or against the CA file named
by `verify=` or by `CRISPML_CA_FILE` (a server with a certificate of its own making).
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Awaitable
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Literal

import httpx
import orjson

from crispml.errors import (
    Conflict,
    CrispmlError,
    Erased,
    Forbidden,
    IntegrityFailure,
    InvalidInput,
    NotFound,
    TooLarge,
    TooManyAttempts,
    Unauthorized,
    Unavailable,
)

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

_ERRORS: dict[int, type[CrispmlError]] = {
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    410: Erased,
    413: TooLarge,
    415: InvalidInput,
    422: InvalidInput,
    500: IntegrityFailure,
    503: Unavailable,
}
_JOB_TIMEOUT_S = 3600.0
_LONG_POLL: dict[str, str | float] = {"wait": "true", "timeout": _JOB_TIMEOUT_S}
ARROW_STREAM = "application/vnd.apache.arrow.stream"
"""`crispml.score_stream.ARROW_STREAM`, spelled again so that the client starts without pyarrow."""


def arrow_stream(table: pd.DataFrame | pa.Table) -> bytes:
    """A table as the bytes of an Arrow IPC stream (a DataFrame's index is left out)."""
    import pyarrow as pa  # here, not at import: the client (and the CLI's help) starts without it

    if not isinstance(table, pa.Table):
        table = pa.Table.from_pandas(table, preserve_index=False)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def _raise_for(response: httpx.Response) -> None:
    if response.status_code < 400:
        return
    try:
        body = response.json()
    except ValueError:
        body = {"detail": response.text}
    if response.status_code == 429:
        retry_after = response.headers.get("retry-after", "60")
        raise TooManyAttempts(str(body.get("detail", response.reason_phrase)),
                              retry_after=int(retry_after) if retry_after.isdigit() else 60)  # fmt: skip
    kind = _ERRORS.get(response.status_code, CrispmlError)
    kind = _error_kinds(kind).get(str(body.get("title", "")), kind)  # a refused gate is a Conflict titled GateFailed
    raise kind(str(body.get("detail", response.reason_phrase)), field=body.get("field"))


def job_result(job: dict[str, Any]) -> Any:
    """A finished job's result, or its error raised as the service would have raised it."""
    if job["status"] == "succeeded":
        return job["result"]
    error = job.get("error") or {}
    kinds = _error_kinds(CrispmlError)  # a problem's title is its class
    detail = error.get("detail") or f"job {job['id']} ended {job['status']}"
    raise kinds.get(error.get("title", ""), CrispmlError)(detail, field=error.get("field"))


def _error_kinds(kind: type[CrispmlError]) -> dict[str, type[CrispmlError]]:
    """Every crispml error class by name (subclasses of subclasses too, such as GateFailed)."""
    found = {kind.__name__: kind}
    for sub in kind.__subclasses__():
        found.update(_error_kinds(sub))
    return found


CA_FILE_ENV = "CRISPML_CA_FILE"


def tls_verify(verify: bool | str | Path | ssl.SSLContext | None) -> bool | ssl.SSLContext:
    """What httpx verifies an https server with: `verify` as given, a CA file's context, or by default
    `CRISPML_CA_FILE`'s, else the system's authorities (True). False turns verification off."""
    if verify is None:
        verify = os.environ.get(CA_FILE_ENV) or True
    if isinstance(verify, (str, Path)):
        try:
            return ssl.create_default_context(cafile=str(verify))
        except (OSError, ssl.SSLError) as exc:
            raise InvalidInput(f"cannot read the CA file {verify}: {getattr(exc, 'strerror', None) or exc}",
                               field="verify") from None  # fmt: skip
    return verify


def _unreachable(base_url: object, exc: httpx.TransportError) -> Unavailable:
    reason = str(exc) or type(exc).__name__
    if isinstance(exc, httpx.TimeoutException):
        reason = f"timed out ({type(exc).__name__})"
    if "CERTIFICATE_VERIFY_FAILED" in reason:
        reason += f"; if the server's certificate is your own, name its CA with {CA_FILE_ENV} or verify="
    return Unavailable(f"cannot reach the crispml server at {base_url}: {reason}", field="url")


API_KEY_ENV = "CRISPML_API_KEY"


def _auth_headers(api_key: str | None, httpx_options: dict[str, Any]) -> dict[str, Any]:
    """httpx options with `Authorization: Bearer` from `api_key`, else from CRISPML_API_KEY, if either is set."""
    key = api_key or os.environ.get(API_KEY_ENV)
    if not key:
        return httpx_options
    return {**httpx_options, "headers": {**(httpx_options.get("headers") or {}), "Authorization": f"Bearer {key}"}}


def _close_files(kwargs: dict[str, Any]) -> None:
    for _name, handle, *_rest in (kwargs.get("files") or {}).values():
        if hasattr(handle, "close"):
            handle.close()


def _given(**params: Any) -> dict[str, Any]:
    """Query parameters, those not given (None or empty) left out."""
    return {k: v for k, v in params.items() if v is not None and v != ""}


Answer = Literal["json", "text", "bytes", "arrow"]
"""How an answer's body is handed back: decoded JSON, text (a page), bytes (a picture), or a score answer's
Arrow stream (its scores a pyarrow Table; JSON when the server answered JSON)."""


class _Calls:
    """The API's calls, one method each; `_call` decides whether they run now or are awaited."""

    wait_for_jobs = True

    def _call(self, method: str, path: str, *, job: bool = False, answer: Answer = "json", **kwargs: Any) -> Any:
        raise NotImplementedError

    # -- datasets
    def ingest(self, path: str | None = None, *, source: str | None = None, table: str | None = None,
               query: str | None = None, pool: str | None = None, name: str | None = None, slices: int = 12,
               percent_data: float = 1.0, seed: int = 42, target: str = "Class", key: str | None = None,
               time_column: str | None = None, project: str | None = None,
               tags: dict[str, str] | None = None) -> Any:  # fmt: skip
        """DataIngestion of a file in the server's data folder (`path`), or of a registered `source`'s table,
        query or file (`sources()` lists them; database URLs are not accepted), or of a dataset of the shared
        data `pool` (name, name/version, name@version), read through the server's filter."""
        spec = {"path": path, "source": source, "table": table, "query": query, "pool": pool}
        options = {"name": name, "slices": slices, "percent_data": percent_data, "seed": seed, "target": target,
                   "key": key, "time_column": time_column, "project": project, "tags": tags}  # fmt: skip
        return self._call("POST", "/api/v1/datasets", job=True, json={"source": spec, **options})

    def upload(self, file: str | Path, **options: Any) -> Any:
        """DataIngestion of a local file, streamed to the server in chunks (never read whole into memory)."""
        handle: IO[bytes] = Path(file).open("rb")  # noqa: SIM115 - _call closes it once the request is sent
        data = {k: orjson.dumps(v).decode() if isinstance(v, dict) else str(v)
                for k, v in options.items() if v is not None}  # fmt: skip
        return self._call("POST", "/api/v1/datasets/upload", job=True, files={"file": (Path(file).name, handle)},
                          data=data)  # fmt: skip

    def datasets(self, *, stage: str | None = None, name: str | None = None, limit: int = 100,
                 offset: int = 0) -> Any:  # fmt: skip
        """A page of dataset versions (of one stage or name, if given)."""
        params = {k: v for k, v in {"stage": stage, "name": name, "limit": limit, "offset": offset}.items()
                  if v is not None}  # fmt: skip
        return self._call("GET", "/api/v1/datasets", params=params)

    def dataset(self, ref: str) -> Any:
        return self._call("GET", f"/api/v1/datasets/{ref}")

    def prepare(self, dataset: str, *, missing: str = "median", name: str | None = None) -> Any:
        return self._call("POST", f"/api/v1/datasets/{dataset}/prepare", json={"missing": missing, "name": name})

    def curate(self, dataset: str, *, algorithm: str = "rf", frames: str | None = None,
               name: str | None = None) -> Any:  # fmt: skip
        body = {"algorithm": algorithm, "frames": frames, "name": name}
        return self._call("POST", f"/api/v1/datasets/{dataset}/curate", json=body)

    # -- models
    def train(self, dataset: str, *, name: str, algorithm: str = "rf", frames: str = "1-6", weight: float = 1.0,
              params: dict[str, Any] | None = None, seed: int = 42, threshold: float = 0.5) -> Any:  # fmt: skip
        body = {"dataset": dataset, "algorithm": algorithm, "frames": frames, "weight": weight,
                "params": params or {}, "seed": seed, "threshold": threshold}  # fmt: skip
        return self._call("POST", f"/api/v1/models/{name}/versions", job=True, json=body)

    def run_pipeline(self, pipeline: str | Path | dict[str, Any]) -> Any:
        """Run a pipeline file as one job: a `Path` to a YAML or JSON file, its text, or its mapping
        (see `pipeline_schema()`); the finished job's result holds each step's output."""
        if isinstance(pipeline, dict):
            return self._call("POST", "/api/v1/pipelines", job=True, json=pipeline)
        text = pipeline.read_text(encoding="utf-8") if isinstance(pipeline, Path) else pipeline
        return self._call("POST", "/api/v1/pipelines", job=True, content=text.encode(),
                          headers={"content-type": "application/yaml"})  # fmt: skip

    def resume_pipeline(self, job_id: str) -> Any:
        """Resume an interrupted pipeline job: a new job runs the steps it had not finished."""
        return self._call("POST", f"/api/v1/pipelines/{job_id}/resume", job=True)

    def pipeline_schema(self) -> Any:
        """The JSON schema of a pipeline file."""
        return self._call("GET", "/api/v1/pipelines/schema")

    # -- promotion between environments
    def export_model(self, name: str, version: int) -> Any:
        """A model version as one signed bundle (zip bytes): write it to a file for `import_model` elsewhere."""
        return self._call("GET", f"/api/v1/models/{name}/versions/{version}/bundle", answer="bytes")

    def import_model(self, bundle: bytes | Path, *, alias: str | None = None) -> Any:
        """Import a signed bundle (its bytes or its file); with `alias`, the server's gates decide if it moves."""
        data = bundle.read_bytes() if isinstance(bundle, Path) else bundle
        return self._call("POST", "/api/v1/models/import", content=data, params=_given(alias=alias),
                          headers={"Content-Type": "application/zip"})  # fmt: skip

    def promote(self, name: str, version: int, *, to: str, alias: str = "champion") -> Any:
        """Promote a model version to the server's configured target environment `to` (its gates decide)."""
        return self._call("POST", f"/api/v1/models/{name}/versions/{version}/promote",
                          params={"to": to, "alias": alias})  # fmt: skip

    def provenance(self, name: str, version: int) -> Any:
        """Where a model version came from: made here, or imported (source environment, version, bundle sha256)."""
        return self._call("GET", f"/api/v1/models/{name}/versions/{version}/provenance")

    def models(self, *, limit: int = 100, offset: int = 0) -> Any:
        """A page of model names with their newest version and aliases."""
        return self._call("GET", "/api/v1/models", params={"limit": limit, "offset": offset})

    def versions(self, name: str, *, limit: int = 100, offset: int = 0) -> Any:
        """A page of a model's versions, oldest first."""
        return self._call("GET", f"/api/v1/models/{name}/versions", params={"limit": limit, "offset": offset})

    def model(self, name: str, version: int) -> Any:
        return self._call("GET", f"/api/v1/models/{name}/versions/{version}")

    def alias(self, name: str, alias: str) -> Any:
        """The model version an alias points at."""
        return self._call("GET", f"/api/v1/models/{name}/aliases/{alias}")

    def report(self, name: str, version: int, *, frames: str | None = None, threshold: float | None = None,
               format: str = "json") -> Any:  # fmt: skip
        """ModelReport as JSON; with format="html", a self-contained HTML page (text) with every picture.
        `threshold` sets the confusion matrix, precision, recall and F1 (default: the model's)."""
        params = _given(frames=frames, threshold=threshold, format=None if format == "json" else format)
        path = f"/api/v1/models/{name}/versions/{version}/report"
        return self._call("GET", path, params=params, answer="text" if format == "html" else "json")

    def report_plot(self, name: str, version: int, plot: str, *, format: str = "svg", frames: str | None = None,
                    threshold: float | None = None) -> Any:  # fmt: skip
        """A picture of ModelReport as SVG or PNG bytes: roc, pr, confusion, kpi-by-frame or importances."""
        params = _given(format=format, frames=frames, threshold=threshold)
        path = f"/api/v1/models/{name}/versions/{version}/report/plots/{plot}"
        return self._call("GET", path, params=params, answer="bytes")

    def persist(self, name: str, version: int, *, alias: str = "champion") -> Any:
        return self._call("PUT", f"/api/v1/models/{name}/aliases/{alias}", json={"version": version})

    def delete_alias(self, name: str, alias: str) -> Any:
        return self._call("DELETE", f"/api/v1/models/{name}/aliases/{alias}")

    def monitor(self, name: str, *, version: int | None = None, alias: str | None = None, frames: str | None = None,
                since: str | None = None, dataset: str | None = None) -> Any:  # fmt: skip
        """Drift against the training profile: a dataset's frames, or records scored online `since` (24h)."""
        params = _given(version=version, alias=alias, frames=frames, since=since, dataset=dataset)
        return self._call("GET", f"/api/v1/models/{name}/monitoring", params=params)

    def lineage(self, name: str, *, version: int | None = None, alias: str | None = None) -> Any:
        params = {k: v for k, v in {"version": version, "alias": alias}.items() if v is not None}
        return self._call("GET", f"/api/v1/models/{name}/lineage", params=params)

    # -- scoring
    def score(self, name: str, *, records: list[dict[str, Any]] | None = None, dataset: str | None = None,
              frames: str | None = None, table: pd.DataFrame | pa.Table | None = None, version: int | None = None,
              alias: str | None = None, idempotency_key: str | None = None,
              scores_as: Literal["records", "table"] = "records") -> Any:  # fmt: skip
        """NewDataScore: records, or a table (a pandas DataFrame or pyarrow Table, sent as an Arrow
        stream), are answered at once; a dataset's frames run as a job.

        With a table and `scores_as="table"`, the answer's `scores` is a pyarrow Table (record_id, frame,
        score, decision), sent as an Arrow stream: for 10,000 records a sixth of the JSON answer's cost."""
        if scores_as not in ("records", "table") or (scores_as == "table" and table is None):
            raise InvalidInput("scores_as is 'records', or 'table' for the scores of a table (table=...)",
                               field="scores_as")  # fmt: skip
        params = {k: v for k, v in {"version": version, "alias": alias}.items() if v is not None}
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        path = f"/api/v1/models/{name}/score"
        if table is not None:
            headers["Content-Type"] = ARROW_STREAM
            if scores_as == "table":
                headers["Accept"] = ARROW_STREAM
            return self._call("POST", path, content=arrow_stream(table), params=params, headers=headers,
                              answer="arrow" if scores_as == "table" else "json")  # fmt: skip
        body = {"records": records} if records is not None else {"dataset": dataset, "frames": frames}
        return self._call("POST", path, job=dataset is not None, json=body, params=params, headers=headers)

    def batch(self, batch_id: str, *, limit: int = 1000, offset: int = 0) -> Any:
        return self._call("GET", f"/api/v1/score-batches/{batch_id}", params={"limit": limit, "offset": offset})

    def label(self, labels: list[dict[str, Any]] | None = None, *, dataset: str | None = None,
              frames: str | None = None) -> Any:  # fmt: skip
        body = {"labels": labels} if labels is not None else {"dataset": dataset, "frames": frames}
        return self._call("PUT", "/api/v1/labels", json=body)

    def verify(
        self,
        model: str,
        *,
        frames: str | None = None,
        format: str = "json",
        compare: str | None = None,
        level: float | None = None,
    ) -> Any:
        """NewDataReport as JSON; with format="html", a self-contained HTML page (text) with its pictures.
        With compare="champion,challenger", also those two versions on the same labelled records."""
        params = _given(model=model, frames=frames, format=None if format == "json" else format, compare=compare,
                        level=level)  # fmt: skip
        return self._call("GET", "/api/v1/reports/verification", params=params,
                          answer="text" if format == "html" else "json")  # fmt: skip

    def estimate(self, model: str, *, frames: str | None = None, since: str | None = None, level: float = 0.99) -> Any:
        """Performance before labels: CBPE estimates of the unlabelled scores per model version and frame."""
        params = _given(model=model, frames=frames, since=since, level=None if level == 0.99 else level)
        return self._call("GET", "/api/v1/reports/estimate", params=params)

    def verify_plot(self, model: str, plot: str, *, format: str = "svg", frames: str | None = None) -> Any:
        """A picture of NewDataReport as SVG or PNG bytes: kpi-by-frame or labelled."""
        params = _given(model=model, format=format, frames=frames)
        return self._call("GET", f"/api/v1/reports/verification/plots/{plot}", params=params, answer="bytes")

    # -- jobs and operations
    def jobs(self, *, status: str | None = None, limit: int = 100, offset: int = 0) -> Any:
        """Recent jobs, newest first."""
        params = {k: v for k, v in {"status": status, "limit": limit, "offset": offset}.items() if v is not None}
        return self._call("GET", "/api/v1/jobs", params=params)

    def job(self, job_id: str, *, wait: bool = False, timeout: float | None = None) -> Any:
        """A job as it stands; with `wait`, once it has ended or after `timeout` seconds."""
        params: dict[str, Any] = {"wait": wait}
        if timeout is not None:
            params["timeout"] = timeout
        return self._call("GET", f"/api/v1/jobs/{job_id}", params=params)

    def cancel_job(self, job_id: str) -> Any:
        """Cancel a queued job, or ask a running one to stop at its next progress report."""
        return self._call("POST", f"/api/v1/jobs/{job_id}/cancel")

    # -- data sources
    def sources(self) -> Any:
        """The registered data sources: names and kinds."""
        return self._call("GET", "/api/v1/sources")

    def source_tables(self, name: str) -> Any:
        """A database source's tables, with their columns and row counts."""
        return self._call("GET", f"/api/v1/sources/{name}/tables")

    def add_source(self, name: str, url: str) -> Any:
        """Register a source (admin); a database password only as ${ENV_VAR} or @file:/path, read by the server."""
        return self._call("POST", "/api/v1/sources", json={"name": name, "url": url})

    def remove_source(self, name: str) -> Any:
        return self._call("DELETE", f"/api/v1/sources/{name}")

    # -- retraining triggers and webhooks
    def set_retrain_policy(self, model: str, *, when: list[str] | None = None, pipeline: str | Path | dict[str, Any],
                           every: str | None = None, cooldown: str | None = None) -> Any:  # fmt: skip
        """Set (or replace) `model`'s retraining policy (admin): conditions such as `new-labels>=500`,
        `realized-roc_auc<0.85`, `estimated-roc_auc<0.85` or `drift-alarm`, a schedule (`every="24h"`), and
        the pipeline (a `Path`, its text or mapping)."""
        text = pipeline.read_text(encoding="utf-8") if isinstance(pipeline, Path) else pipeline
        body = {"when": when or [], "every": every, "cooldown": cooldown, "pipeline": text}
        return self._call("PUT", f"/api/v1/retrain/policies/{model}", json={k: v for k, v in body.items()
                                                                          if v is not None})  # fmt: skip

    def retrain_policies(self) -> Any:
        """Every retraining policy, in the list envelope."""
        return self._call("GET", "/api/v1/retrain/policies")

    def retrain_policy(self, model: str) -> Any:
        return self._call("GET", f"/api/v1/retrain/policies/{model}")

    def remove_retrain_policy(self, model: str) -> Any:
        return self._call("DELETE", f"/api/v1/retrain/policies/{model}")

    def retrain_check(self) -> Any:
        """Check every policy once; the triggers fired (their jobs queued on the server)."""
        return self._call("POST", "/api/v1/retrain/check")

    def retrain_triggers(self, *, model: str | None = None, limit: int = 100) -> Any:
        """Retraining triggers, newest first."""
        return self._call("GET", "/api/v1/retrain/triggers", params=_given(model=model, limit=limit))

    # -- the challenger promotion policy
    def challenger_check(self, model: str | None = None) -> Any:
        """Apply the server's challenger policy once (admin), to `model` or every name with a challenger:
        each decision (wait, kept, refused, promoted, proposed) with its figures, in the list envelope."""
        return self._call("POST", "/api/v1/challenger/check", params=_given(model=model))

    def challenger_proposals(self, *, model: str | None = None, status: str | None = None, limit: int = 100) -> Any:
        """Challengers proposed for approval, newest first (status open, approved, rejected, superseded)."""
        return self._call("GET", "/api/v1/challenger/proposals", params=_given(model=model, status=status, limit=limit))

    def approve_challenger(self, model: str, *, reason: str | None = None) -> Any:
        """Approve `model`'s open proposal (admin): its challenger becomes champion, the old one the fallback."""
        return self._call("POST", f"/api/v1/models/{model}/challenger/approve", json={"reason": reason})

    def reject_challenger(self, model: str, *, reason: str | None = None) -> Any:
        """Reject `model`'s open proposal (admin): the champion stays and the pair is not proposed again."""
        return self._call("POST", f"/api/v1/models/{model}/challenger/reject", json={"reason": reason})

    def add_webhook(self, url: str, *, events: list[str], secret_env: str) -> Any:
        """Register a webhook target (admin); `secret_env` names the server's variable holding its secret."""
        return self._call("POST", "/api/v1/webhooks", json={"url": url, "events": events, "secret_env": secret_env})

    def webhooks(self) -> Any:
        return self._call("GET", "/api/v1/webhooks")

    def remove_webhook(self, target_id: str) -> Any:
        return self._call("DELETE", f"/api/v1/webhooks/{target_id}")

    def webhook_deliveries(self, *, status: str | None = None, limit: int = 100) -> Any:
        """Webhook deliveries, newest first, with their attempts and last error."""
        return self._call("GET", "/api/v1/webhooks/deliveries", params=_given(status=status, limit=limit))

    def cancel(self, job_id: str) -> Any:
        """Same as `cancel_job` (kept for existing callers)."""
        return self.cancel_job(job_id)

    def perf(self, method: str | None = None, *, limit: int = 1000) -> Any:
        params = {"method": method, "limit": limit} if method else {"limit": limit}
        return self._call("GET", "/api/v1/perf", params=params)

    def ready(self) -> Any:
        return self._call("GET", "/readyz")

    # -- audit
    def audit(self, *, since: str | None = None, until: str | None = None, principal: str | None = None,
              action: str | None = None, resource: str | None = None, limit: int = 100,
              offset: int = 0) -> Any:  # fmt: skip
        """Audit events, newest first, in the list envelope; `action`/`resource` ending in '*' match a prefix."""
        filters = {"since": since, "until": until, "principal": principal, "action": action, "resource": resource}
        params = {k: v for k, v in filters.items() if v is not None}
        return self._call("GET", "/api/v1/audit", params={**params, "limit": limit, "offset": offset})

    def verify_audit(self) -> int:
        """Have the server walk its audit chain: the events checked; IntegrityFailure names the first broken one."""
        return int(self._call("GET", "/api/v1/audit/verification")["checked"])

    # -- data protection (admin, steward)
    def tag_columns(self, dataset: str, tags: dict[str, str | None]) -> Any:
        """Set column tags (personal, quasi-identifier, sensitive; None clears) of a dataset version."""
        return self._call("POST", "/api/v1/privacy/tags", json={"dataset": dataset, "tags": tags})

    def pseudonymize(self, dataset: str, *, columns: list[str] | None = None, name: str | None = None) -> Any:
        """A new version with `columns` (default: those tagged personal) replaced by keyed pseudonyms."""
        body = {"dataset": dataset, "columns": columns, "name": name}
        return self._call("POST", "/api/v1/privacy/pseudonymizations", json=body)

    def anonymize(self, dataset: str, *, k: int, quasi_identifiers: list[str] | None = None,
                  sensitive: str | None = None, l_diversity: int | None = None, max_suppression: float = 0.05,
                  name: str | None = None) -> Any:  # fmt: skip
        """A new k-anonymous version and its report; refused (InvalidInput) below k, nothing written."""
        body = {"dataset": dataset, "k": k, "quasi_identifiers": quasi_identifiers, "sensitive": sensitive,
                "l_diversity": l_diversity, "max_suppression": max_suppression, "name": name}  # fmt: skip
        return self._call("POST", "/api/v1/privacy/anonymizations", json=body)

    def erase(self, column: str, value: str) -> Any:
        """Erase the data subject whose `column` is `value` from every dataset, label and score."""
        return self._call("POST", "/api/v1/privacy/erasures", json={"column": column, "value": value})

    def retention(self) -> Any:
        """Retention periods in days by dataset name."""
        return self._call("GET", "/api/v1/privacy/retention")

    def set_retention(self, name: str, days: int | None) -> Any:
        """Keep versions of dataset `name` for `days` days (None: for ever)."""
        return self._call("PUT", "/api/v1/privacy/retention", json={"name": name, "days": days})

    def apply_retention(self, *, force: bool = False) -> Any:
        """Delete the rows of versions past their retention period."""
        return self._call("POST", "/api/v1/privacy/retention/apply", json={"force": force})


def _prepare(job: bool, kwargs: dict[str, Any]) -> dict[str, Any]:
    if job:  # long calls block on the server until their job ends, then hand back its result
        kwargs["params"] = {**kwargs.get("params", {}), "wait": "true", "timeout": _JOB_TIMEOUT_S}
    return kwargs


def _decode(response: httpx.Response, job: bool, answer: Answer = "json") -> Any:
    _raise_for(response)
    if response.status_code == 204:
        return None
    if answer == "bytes":
        return response.content
    if answer == "text":
        return response.text
    if answer == "arrow" and response.headers.get("content-type", "").startswith(ARROW_STREAM):
        from crispml import score_stream  # here: the client starts without pyarrow

        return score_stream.decode(response.content)
    # orjson: a 10,000-score answer decodes in half the time the standard library's json takes.
    body = orjson.loads(response.content)
    return job_result(body) if job else body


class Client(_Calls):
    """Synchronous client: `Client("http://127.0.0.1:8000").train("ccf-cur", name="fraud", weight=10)`."""

    def __init__(
        self, base_url: str, *, timeout: float = _JOB_TIMEOUT_S + 60, wait_for_jobs: bool = True,
        api_key: str | None = None, verify: bool | str | Path | ssl.SSLContext | None = None,
        **httpx_options: Any,
    ) -> None:  # fmt: skip
        self.http = httpx.Client(
            base_url=base_url, timeout=timeout, verify=tls_verify(verify), **_auth_headers(api_key, httpx_options)
        )
        self.wait_for_jobs = wait_for_jobs

    def _call(self, method: str, path: str, *, job: bool = False, answer: Answer = "json", **kwargs: Any) -> Any:
        job = job and self.wait_for_jobs
        try:
            response = self.http.request(method, path, **_prepare(job, kwargs))
            while job and response.status_code == 202:  # the server holds a wait for a while only
                response = self.http.get(response.headers["Location"], params=_LONG_POLL)
        except httpx.TransportError as exc:
            raise _unreachable(self.http.base_url, exc) from None
        finally:
            _close_files(kwargs)
        return _decode(response, job, answer)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


class AsyncClient(_Calls):
    """Asynchronous client: the same methods, each returning an awaitable."""

    def __init__(
        self, base_url: str, *, timeout: float = _JOB_TIMEOUT_S + 60, wait_for_jobs: bool = True,
        api_key: str | None = None, verify: bool | str | Path | ssl.SSLContext | None = None,
        **httpx_options: Any,
    ) -> None:  # fmt: skip
        self.http = httpx.AsyncClient(
            base_url=base_url, timeout=timeout, verify=tls_verify(verify), **_auth_headers(api_key, httpx_options)
        )
        self.wait_for_jobs = wait_for_jobs

    def _call(
        self, method: str, path: str, *, job: bool = False, answer: Answer = "json", **kwargs: Any
    ) -> Awaitable[Any]:
        job = job and self.wait_for_jobs

        async def run() -> Any:
            try:
                response = await self.http.request(method, path, **_prepare(job, kwargs))
                while job and response.status_code == 202:  # the server holds a wait for a while only
                    response = await self.http.get(response.headers["Location"], params=_LONG_POLL)
            except httpx.TransportError as exc:
                raise _unreachable(self.http.base_url, exc) from None
            finally:
                _close_files(kwargs)
            return _decode(response, job, answer)

        return run()

    async def aclose(self) -> None:
        await self.http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.aclose()
