"""The local store as a backend: each call is the service call, its answer the contract's model as JSON."""

from __future__ import annotations

from typing import Any

from crispml.backends.plain import JOB_POLL_S, J, as_json
from crispml.client.wire import job_result
from crispml.container import Container
from crispml.contract import answers as a
from crispml.contract import challengers as ch
from crispml.contract import retraining as r
from crispml.contract import scoring as sc
from crispml.contract.pipeline import Pipeline
from crispml.contract.requests import ImageFormat
from crispml.domain import Job, SourceSpec, Stage
from crispml.services.base import Progress, no_progress
from crispml.services.pipelines import parse_pipeline


class LocalBackend:
    """The store on this machine (CRISPML_HOME, CRISPML_DATABASE_URL).

    Every answer is the contract's answer model as JSON (`crispml.contract`): the same shape
    the REST route answers, so `--json` prints the same thing locally and with `--remote`.
    """

    def __init__(self, container: Container) -> None:
        self.c = container
        self._reports: dict[tuple[str, str | None, float | None], J] = {}
        self._verifications: dict[tuple[str, str | None, str | None, float], J] = {}

    def ingest(self, source: SourceSpec, progress: Progress = no_progress, **options: Any) -> J:
        return as_json(a.DatasetAnswer.from_domain(self.c.ingestion.ingest(source, progress=progress, **options)))

    def prepare(self, ref: str, *, missing: str, name: str | None, progress: Progress = no_progress) -> J:
        prepared = self.c.lifecycle.prepare(ref, missing=missing, name=name, progress=progress)
        return as_json(a.DatasetAnswer.from_domain(prepared))

    def curate(self, ref: str, *, algorithm: str, frames: str | None, name: str | None,
               progress: Progress = no_progress) -> J:  # fmt: skip
        curated = self.c.lifecycle.curate(ref, algorithm=algorithm, frames=frames, name=name, progress=progress)
        return as_json(a.DatasetAnswer.from_domain(curated))

    def train(self, ref: str, progress: Progress = no_progress, **options: Any) -> J:
        return as_json(a.ModelVersionAnswer.from_domain(self.c.lifecycle.train(ref, progress=progress, **options)))

    def report(self, model: str, *, frames: str | None, threshold: float | None) -> J:
        # One command draws several pictures of one report: it is computed once.
        key = (model, frames, threshold)
        if key not in self._reports:
            found = self.c.lifecycle.report(model, frames=frames, threshold=threshold)
            self._reports[key] = as_json(a.ReportAnswer.from_domain(found))
        return self._reports[key]

    def report_page(self, model: str, *, frames: str | None, threshold: float | None) -> str:
        from crispml import reports

        return reports.report_page(self.report(model, frames=frames, threshold=threshold))

    def report_plot(self, model: str, plot: str, *, frames: str | None, threshold: float | None,
                    image_format: ImageFormat) -> bytes:  # fmt: skip
        from crispml import reports

        return reports.report_plot(self.report(model, frames=frames, threshold=threshold), plot, image_format)

    def persist(self, model: str, *, alias: str) -> J:
        return as_json(a.ModelVersionAnswer.from_domain(self.c.lifecycle.persist(model, alias=alias)))

    def score(self, model: str, *, dataset: str | None, frames: str | None, file: str | None,
              idempotency_key: str | None, progress: Progress = no_progress) -> J:  # fmt: skip
        result = self.c.scoring.score(model, dataset=dataset, frames=frames, file=file,
                                      idempotency_key=idempotency_key, progress=progress)  # fmt: skip
        return sc.ScoreBatchAnswer.dump(result)

    def label(self, *, file: str | None, dataset: str | None, frames: str | None, id_column: str,
              label_column: str) -> J:  # fmt: skip
        report = self.c.scoring.label(file=file, dataset=dataset, frames=frames, id_column=id_column,
                                      label_column=label_column)  # fmt: skip
        return as_json(sc.LabelReportAnswer.from_domain(report))

    def verify(self, model: str, *, frames: str | None, compare: str | None = None, level: float = 0.05) -> J:
        key = (model, frames, compare, level)
        if key not in self._verifications:
            found = self.c.scoring.verify(model, frames=frames, compare=compare, level=level)
            self._verifications[key] = as_json(sc.VerificationAnswer.from_domain(found))
        return self._verifications[key]

    def estimate(self, model: str, *, frames: str | None, since: str | None, level: float) -> J:
        found = self.c.scoring.estimate(model, frames=frames, since=since, level=level)
        return as_json(sc.EstimationAnswer.from_domain(found))

    def verify_page(self, model: str, *, frames: str | None) -> str:
        from crispml import reports

        return reports.verification_page(self.verify(model, frames=frames))

    def verify_plot(self, model: str, plot: str, *, frames: str | None, image_format: ImageFormat) -> bytes:
        from crispml import reports

        return reports.verification_plot(self.verify(model, frames=frames), plot, image_format)

    def monitor(self, model: str, *, frames: str | None, since: str | None, dataset: str | None) -> J:
        found = self.c.monitoring.monitor(model, frames=frames, since=since, dataset=dataset)
        return as_json(sc.MonitoringAnswer.from_domain(found))

    def lineage(self, ref: str) -> list[J]:
        return [as_json(a.LineageNodeAnswer.from_domain(n)) for n in self.c.lifecycle.lineage(ref)]

    def run_pipeline(self, pipeline: str | Pipeline, progress: Progress = no_progress) -> J:
        """Run a pipeline (a file's text) as one job of this process and wait for it (its result, or its error)."""
        parsed = parse_pipeline(pipeline) if isinstance(pipeline, str) else pipeline
        return self._follow(self.c.pipelines.submit(parsed), progress)

    def resume_pipeline(self, job_id: str, progress: Progress = no_progress) -> J:
        return self._follow(self.c.pipelines.resume(job_id), progress)

    def export_model(self, ref: str) -> bytes:
        return self.c.promotion.export(ref)[0]

    def import_model(self, bundle: bytes, alias: str | None) -> J:
        return self.c.promotion.import_bundle(bundle, alias=alias)

    def promote(self, ref: str, to: str, alias: str) -> J:
        return self.c.promotion.promote(ref, to=to, alias=alias)

    def provenance(self, ref: str) -> J:
        return self.c.promotion.provenance(ref)

    def _follow(self, job: Job, progress: Progress) -> J:
        """Wait for a job of this process, reporting its phase; its result, or its error raised."""
        try:
            while not job.status.finished:
                job = self.c.jobs.wait(job.id, JOB_POLL_S)
                progress(job.phase or job.status.value, job.progress)
        except KeyboardInterrupt:  # the job stops at its next progress report; the command waits for that
            self.c.jobs.cancel(job.id)
            self.c.jobs.wait(job.id, 60)
            raise
        return {"job": job.id, **job_result(as_json(a.JobAnswer.from_domain(job)))}

    def datasets(self, stage: str | None = None, name: str | None = None) -> list[J]:
        found = self.c.lifecycle.list_datasets(Stage(stage) if stage else None)
        return [as_json(a.DatasetAnswer.from_domain(d)) for d in found if name is None or d.name == name]

    def models(self, name: str | None) -> list[J]:
        return [as_json(a.ModelVersionAnswer.from_domain(m)) for m in self.c.lifecycle.list_models(name)]

    def perf(self, method: str | None, limit: int) -> J:
        records, summaries = self.c.operations.perf(method, limit)
        return as_json(a.PerfAnswer.from_domain(records, summaries, limit))

    def jobs(self, status: str | None, limit: int) -> list[J]:
        from crispml.domain import JobStatus

        found = self.c.jobs.list_jobs(JobStatus(status) if status else None, limit)
        return [as_json(a.JobAnswer.from_domain(j)) for j in found]

    def job(self, job_id: str, wait: bool) -> J:
        # Jobs run inside servers; this process can only watch one through the database.
        found = self.c.jobs.wait(job_id, 3600.0) if wait else self.c.jobs.get(job_id)
        return as_json(a.JobAnswer.from_domain(found))

    def cancel_job(self, job_id: str) -> J:
        return as_json(a.JobAnswer.from_domain(self.c.jobs.cancel(job_id)))

    def audit(self, filters: J, limit: int) -> J:
        from crispml.domain import AuditQuery

        events, total = self.c.audit.events(AuditQuery(**filters), limit)
        return as_json(a.Page[a.AuditEventAnswer].of([a.AuditEventAnswer.from_domain(e) for e in events], total, limit))

    def verify_audit(self) -> int:
        return self.c.audit.verify()

    def sources(self) -> list[J]:
        return [as_json(a.SourceAnswer.from_domain(s)) for s in self.c.sources.list_sources()]

    def source_tables(self, name: str) -> list[J]:
        return [as_json(a.SourceTableAnswer.from_domain(t)) for t in self.c.sources.tables(name)]

    def add_source(self, name: str, url: str) -> J:
        return as_json(a.SourceAnswer.from_domain(self.c.sources.add(name, url)))

    def remove_source(self, name: str) -> None:
        self.c.sources.remove(name)

    def set_retrain_policy(self, model: str, *, when: list[str], pipeline: str, every: str | None,
                           cooldown: str | None) -> J:  # fmt: skip
        policy = self.c.retrain.set_policy(model, when, pipeline, every=every, cooldown=cooldown)
        return as_json(r.RetrainPolicyAnswer.from_domain(policy))

    def retrain_policies(self) -> list[J]:
        return [as_json(r.RetrainPolicyAnswer.from_domain(p)) for p in self.c.retrain.list_policies()]

    def remove_retrain_policy(self, model: str) -> None:
        self.c.retrain.remove_policy(model)

    def retrain_check(self) -> list[J]:
        """Check once; this process then runs the triggers' jobs to their end and sends their webhooks
        (retrying as a server would, for as long as the retries' backoff allows, at most a few minutes)."""
        fired = self.c.retrain.wait(self.c.retrain.check(), 6 * 3600.0)
        hooks = self.c.webhooks
        hooks.drain(min(300.0, hooks.backoff_s * 2**hooks.max_attempts + hooks.timeout_s * hooks.max_attempts))
        return [as_json(r.RetrainTriggerAnswer.from_domain(t)) for t in fired]

    def retrain_triggers(self, model: str | None, limit: int) -> list[J]:
        return [as_json(r.RetrainTriggerAnswer.from_domain(t)) for t in self.c.retrain.triggers(model, limit)]

    def add_webhook(self, url: str, *, events: list[str], secret_env: str) -> J:
        return as_json(r.WebhookAnswer.from_domain(self.c.webhooks.add(url, events, secret_env)))

    def webhooks(self) -> list[J]:
        return [as_json(r.WebhookAnswer.from_domain(w)) for w in self.c.webhooks.list_targets()]

    def remove_webhook(self, target_id: str) -> None:
        self.c.webhooks.remove(target_id)

    def webhook_deliveries(self, status: str | None, limit: int) -> list[J]:
        return [as_json(r.WebhookDeliveryAnswer.from_domain(d)) for d in self.c.webhooks.deliveries(status, limit)]

    def challenger_check(self, model: str | None) -> list[J]:
        """Check once; this process then sends the decisions' webhooks (for a while, as `retrain_check` does)."""
        decided = [as_json(ch.ChallengerDecisionAnswer.from_domain(d)) for d in self.c.challenger_policy.check(model)]
        if any(d["recorded"] for d in decided) and self.c.webhooks.list_targets():
            self.c.webhooks.drain(60.0)
        return decided

    def challenger_proposals(self, model: str | None, status: str | None, limit: int) -> list[J]:
        found = self.c.challenger_policy.proposals(model, status, limit)
        return [as_json(ch.ChallengerProposalAnswer.from_domain(p)) for p in found]

    def approve_challenger(self, model: str, reason: str | None) -> J:
        return as_json(ch.ChallengerDecisionAnswer.from_domain(self.c.challenger_policy.approve(model, reason)))

    def reject_challenger(self, model: str, reason: str | None) -> J:
        return as_json(ch.ChallengerDecisionAnswer.from_domain(self.c.challenger_policy.reject(model, reason)))
