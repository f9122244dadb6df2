"""The API's calls, one method each, declared once for both clients."""

from __future__ import annotations

from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Literal

import orjson

from crispml.client.wire import ARROW_STREAM, Answer, arrow_stream, given
from crispml.errors import InvalidInput

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa


class Calls:
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
        return self._call("POST", "/api/v1/models/import", content=data, params=given(alias=alias),
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
        params = given(frames=frames, threshold=threshold, format=None if format == "json" else format)
        path = f"/api/v1/models/{name}/versions/{version}/report"
        return self._call("GET", path, params=params, answer="text" if format == "html" else "json")

    def report_plot(self, name: str, version: int, plot: str, *, format: str = "svg", frames: str | None = None,
                    threshold: float | None = None) -> Any:  # fmt: skip
        """A picture of ModelReport as SVG or PNG bytes: roc, pr, confusion, kpi-by-frame or importances."""
        params = given(format=format, frames=frames, threshold=threshold)
        path = f"/api/v1/models/{name}/versions/{version}/report/plots/{plot}"
        return self._call("GET", path, params=params, answer="bytes")

    def persist(self, name: str, version: int, *, alias: str = "champion") -> Any:
        return self._call("PUT", f"/api/v1/models/{name}/aliases/{alias}", json={"version": version})

    def delete_alias(self, name: str, alias: str) -> Any:
        return self._call("DELETE", f"/api/v1/models/{name}/aliases/{alias}")

    def monitor(self, name: str, *, version: int | None = None, alias: str | None = None, frames: str | None = None,
                since: str | None = None, dataset: str | None = None) -> Any:  # fmt: skip
        """Drift against the training profile: a dataset's frames, or records scored online `since` (24h)."""
        params = given(version=version, alias=alias, frames=frames, since=since, dataset=dataset)
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
        params = given(model=model, frames=frames, format=None if format == "json" else format, compare=compare,
                        level=level)  # fmt: skip
        return self._call("GET", "/api/v1/reports/verification", params=params,
                          answer="text" if format == "html" else "json")  # fmt: skip

    def estimate(self, model: str, *, frames: str | None = None, since: str | None = None, level: float = 0.99) -> Any:
        """Performance before labels: CBPE estimates of the unlabelled scores per model version and frame."""
        params = given(model=model, frames=frames, since=since, level=None if level == 0.99 else level)
        return self._call("GET", "/api/v1/reports/estimate", params=params)

    def verify_plot(self, model: str, plot: str, *, format: str = "svg", frames: str | None = None) -> Any:
        """A picture of NewDataReport as SVG or PNG bytes: kpi-by-frame or labelled."""
        params = given(model=model, format=format, frames=frames)
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
        return self._call("GET", "/api/v1/retrain/triggers", params=given(model=model, limit=limit))

    # -- the challenger promotion policy
    def challenger_check(self, model: str | None = None) -> Any:
        """Apply the server's challenger policy once (admin), to `model` or every name with a challenger:
        each decision (wait, kept, refused, promoted, proposed) with its figures, in the list envelope."""
        return self._call("POST", "/api/v1/challenger/check", params=given(model=model))

    def challenger_proposals(self, *, model: str | None = None, status: str | None = None, limit: int = 100) -> Any:
        """Challengers proposed for approval, newest first (status open, approved, rejected, superseded)."""
        return self._call("GET", "/api/v1/challenger/proposals", params=given(model=model, status=status, limit=limit))

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
        return self._call("GET", "/api/v1/webhooks/deliveries", params=given(status=status, limit=limit))

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
