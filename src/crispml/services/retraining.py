"""Retraining that triggers itself: a policy per model, an evaluator that checks them, and triggers.

A policy names conditions (see `crispml.services.retrain_conditions`), the pipeline to run and a
cooldown. The evaluator (the server's background loop every CRISPML_RETRAIN_CHECK_INTERVAL_S, or
`crispml retrain check` once) checks each policy; the first condition that holds fires a trigger. Of
several evaluators only one fires it: the firing is a conditional update of the policy's revision.

A trigger runs the policy's pipeline as one durable job (kind `retrain`) on the newest labelled frames,
persists the trained version as the model's `challenger` (never its champion: promotion decides that),
and records the version on the trigger, so the version's lineage names the trigger. Each trigger and
its outcome is audited, counted in `crispml_retrain_triggers` and told to the subscribed webhooks.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any

from crispml.contract.pipeline import Persist, Pipeline
from crispml.domain import Job
from crispml.domain.policies import RetrainPolicy, RetrainTrigger
from crispml.domain.refs import check_name, parse_frames
from crispml.errors import CrispmlError, InvalidInput, NotFound
from crispml.identity import acting
from crispml.observability import metrics
from crispml.ports import Storage
from crispml.services.base import Progress, Service, new_id, now
from crispml.services.jobs import JobService
from crispml.services.monitoring import MonitoringService
from crispml.services.pipelines import PipelineService, check_pipeline, parse_pipeline
from crispml.services.retrain_conditions import KINDS, Finding, kind_of, parse_condition, parse_duration
from crispml.services.scoring import ScoringService
from crispml.services.watch import champion_drift, champion_estimate
from crispml.services.webhooks import enqueue

CHALLENGER = "challenger"
DEFAULT_COOLDOWN_S = 3600.0
log = logging.getLogger("crispml.retrain")


class RetrainService(Service):
    def __init__(self, store: Storage, user: str, pipelines: Callable[[], PipelineService],
                 jobs: Callable[[], JobService], scoring: ScoringService,
                 monitoring: MonitoringService | None = None) -> None:  # fmt: skip
        super().__init__(store, user)
        self._pipelines, self._jobs, self.scoring = pipelines, jobs, scoring
        self.monitoring = monitoring
        """Drift of the champion, for `drift-*` conditions (none: they never hold)."""
        self.evaluator = f"{socket.gethostname()}:{os.getpid()}"
        """Who fires this process's triggers (kept with each trigger)."""

    # -- policies
    def set_policy(self, model: str, when: list[str], pipeline: str | dict[str, Any], every: str | None = None,
                   cooldown: str | None = None) -> RetrainPolicy:  # fmt: skip
        """Declare (or replace) the retraining policy of `model`; InvalidInput names the first bad part and
        nothing is stored."""
        check_name(model, "model name")
        conditions = [parse_condition(text)[1] for text in when]
        if every is not None:
            conditions.append(parse_condition(f"every {every}")[1])
        if not conditions:
            raise InvalidInput("a policy needs at least one condition (--when or --every)", field="when")
        parsed = parse_pipeline(pipeline)
        check_pipeline(parsed)
        if parsed.train.name != model:
            raise InvalidInput(f"the pipeline trains model {parsed.train.name!r}, not {model!r}: a policy retrains "
                               "the model it is set on", field="pipeline")  # fmt: skip
        cooldown_s = DEFAULT_COOLDOWN_S if cooldown is None else parse_duration(cooldown, "cooldown")
        at = now()
        dumped = parsed.model_dump(mode="json", exclude_none=True)
        policy = RetrainPolicy(model, tuple(dict.fromkeys(conditions)), dumped, cooldown_s, 1, self.user, at, at)
        with self.store.transaction() as uow:
            before = uow.retrain.find_policy(model)
            uow.retrain.put_policy(policy)
            uow.audit.append(action="retrain.policy.set", resource=f"retrain-policy:{model}",
                             before=None if before is None else _summary(before), after=_summary(policy))  # fmt: skip
            return uow.retrain.get_policy(model)

    def get_policy(self, model: str) -> RetrainPolicy:
        with self.store.reading() as uow:
            return uow.retrain.get_policy(model)

    def list_policies(self) -> list[RetrainPolicy]:
        with self.store.reading() as uow:
            return uow.retrain.list_policies()

    def remove_policy(self, model: str) -> None:
        """Forget a model's policy; its past triggers stay."""
        with self.store.transaction() as uow:
            before = uow.retrain.get_policy(model)
            uow.retrain.remove_policy(model)
            uow.audit.append(action="retrain.policy.remove", resource=f"retrain-policy:{model}",
                             before=_summary(before))  # fmt: skip

    def triggers(self, model: str | None = None, limit: int = 100) -> list[RetrainTrigger]:
        """Triggers fired, newest first (of one model, if given)."""
        with self.store.reading() as uow:
            return uow.retrain.list_triggers(model, limit)

    def trigger(self, trigger_id: str) -> RetrainTrigger:
        with self.store.reading() as uow:
            return uow.retrain.get_trigger(trigger_id)

    # -- the evaluator
    def check(self) -> list[RetrainTrigger]:
        """Check every policy once; the triggers this call fired (their jobs queued)."""
        fired = []
        for policy in self.list_policies():
            try:
                trigger = self._evaluate(policy)
            except CrispmlError as exc:  # one model's trouble never stops the others' checks
                log.warning("retraining policy of %s not checked: %s", policy.model, exc.message)
                continue
            if trigger is not None:
                fired.append(trigger)
        return fired

    def wait(self, triggers: list[RetrainTrigger], timeout_s: float) -> list[RetrainTrigger]:
        """The triggers once their jobs ended (or as they stand after `timeout_s`)."""
        for trigger in triggers:
            self._jobs().wait(trigger.job_id, timeout_s)
        return [self.trigger(t.id) for t in triggers]

    def serve(self, stopping: threading.Event, interval_s: float, then: Callable[[], None] | None = None) -> None:
        """Check the policies every `interval_s` until `stopping` is set (the server's background loop), and
        after each check call `then` (the challenger promotion policy's check), which must not raise."""
        while not stopping.wait(interval_s):
            try:
                self.check()
            except Exception:  # the loop must outlive a database hiccup
                log.exception("retraining check failed; trying again at the next interval")
            if then is not None:
                then()

    def _evaluate(self, policy: RetrainPolicy) -> RetrainTrigger | None:
        at = now()
        if self._running(policy.model):  # first: it also ends the triggers whose process died
            return None
        if policy.last_fired_at is not None and at - policy.last_fired_at < timedelta(seconds=policy.cooldown_s):
            return None
        facts = _Facts(self, policy, at)
        found: tuple[str, str, Finding] | None = None
        for condition in policy.conditions:
            kind = kind_of(condition)
            finding = KINDS[kind].check(condition, facts)
            if finding.met:
                found = (kind, condition, finding)
                break
        if found is None:
            return None
        kind, condition, finding = found
        frames = facts.labelled_frames
        pipeline = retrain_pipeline(Pipeline.model_validate(policy.pipeline), frames)
        figures = {**finding.figures, "train_frames": pipeline.train.frames}
        trigger = RetrainTrigger(new_id("rt"), policy.model, kind, condition, figures, new_id("job"), "running",
                                 f"{self.evaluator} ({self.principal_name()})", at)  # fmt: skip
        with self.store.transaction() as uow:
            if not uow.retrain.claim(policy.model, policy.revision, at):
                return None  # another evaluator fired it first, or the policy changed meanwhile
            uow.retrain.add_trigger(trigger)
            uow.audit.append(action="retrain.triggered", resource=f"retrain-trigger:{trigger.id}",
                             after=_trigger_event(trigger))  # fmt: skip
            enqueue(uow, "retrain.triggered", _trigger_event(trigger))
        metrics.retrain_triggered(policy.model, kind, "fired")
        log.info("retraining of %s triggered by %s (%s)", policy.model, condition, figures,
                 extra={"trigger": trigger.id, "model": policy.model, "condition": condition})  # fmt: skip
        try:
            self._submit(trigger, pipeline)
        except Exception as exc:
            self._finish(trigger, "failed", error=f"the job could not be queued: {exc}")
            raise
        return trigger

    def _running(self, model: str) -> bool:
        """Whether a trigger of `model` still runs; one whose job ended without telling (its process died:
        the job was marked interrupted) is recorded failed here, so the policy is not blocked for ever."""
        with self.store.reading() as uow:
            if not uow.retrain.running(model):
                return False
            running = [t for t in uow.retrain.list_triggers(model, 20) if t.status == "running"]
            jobs = {t.id: uow.jobs.get(t.job_id) for t in running}
        alive = False
        for trigger in running:
            job = jobs[trigger.id]
            if job.status.finished:
                self._finish(trigger, "failed", error=f"its job {job.id} ended {job.status.value}")
            else:
                alive = True
        return alive

    def principal_name(self) -> str:
        principal = acting()
        return self.user if principal is None else principal.name

    def _submit(self, trigger: RetrainTrigger, pipeline: Pipeline) -> Job:
        params = {"root": trigger.job_id, "trigger": trigger.id, "model": trigger.model, "condition": trigger.condition,
                  "pipeline": pipeline.model_dump(mode="json", exclude_none=True)}  # fmt: skip

        return self._jobs().submit("retrain", params, lambda progress: self._work(trigger, pipeline, progress),
                                   job_id=trigger.job_id)  # fmt: skip

    def run_job(self, params: dict[str, Any], progress: Progress) -> dict[str, Any]:
        """Run a queued retrain job from its params (what `crispml worker` does with CRISPML_JOB_RUNNER=workers)."""
        return self._work(self.trigger(params["trigger"]), Pipeline.model_validate(params["pipeline"]), progress)

    def _work(self, trigger: RetrainTrigger, pipeline: Pipeline, progress: Progress) -> dict[str, Any]:
        try:
            state = self._pipelines().run(pipeline, progress, record=lambda s: self._record(trigger.job_id, s),
                                          run_id=trigger.job_id)  # fmt: skip
        except CrispmlError as exc:
            self._finish(trigger, "failed", error=exc.message)
            raise
        except Exception as exc:
            self._finish(trigger, "failed", error=f"{type(exc).__name__}: {exc}"[:2000])
            raise
        challenger = str(state["persist"]["model"])
        self._finish(trigger, "succeeded", challenger=challenger)
        return {"steps": state, "trigger": trigger.id, "challenger": challenger}

    def _record(self, job_id: str, state: dict[str, Any]) -> None:
        with self.store.jobs() as rows:
            rows.update(job_id, result={"steps": state})

    def _finish(self, trigger: RetrainTrigger, status: str, challenger: str | None = None,
                error: str | None = None) -> None:  # fmt: skip
        with self.store.transaction() as uow:
            version = uow.models.get(challenger).id if challenger else None
            if not uow.retrain.finish_trigger(trigger.id, status=status, finished_at=now(), model_version_id=version,
                                              challenger=challenger, error=error):  # fmt: skip
                return  # it had ended already
            done = uow.retrain.get_trigger(trigger.id)
            uow.audit.append(action="retrain.finished", resource=f"retrain-trigger:{trigger.id}",
                             before={"status": "running"}, after=_trigger_event(done))  # fmt: skip
            enqueue(uow, "retrain.finished", _trigger_event(done))
        metrics.retrain_triggered(trigger.model, trigger.kind, status)


def retrain_pipeline(pipeline: Pipeline, labelled_frames: list[int]) -> Pipeline:
    """The pipeline a trigger runs: persisted as the challenger, without score/label/verify steps, and
    trained (and curated) on the newest labelled frames, as many as the pipeline trains on, when the
    ledger knows labelled frames; its report then covers the frames it did not train on."""
    update: dict[str, Any] = {"persist": Persist(alias=CHALLENGER), "score": None, "label": None, "verify": None}
    if labelled_frames:
        window = len(parse_frames(pipeline.train.frames, max(10_000, *labelled_frames)))
        frames = ",".join(str(f) for f in labelled_frames[-window:])
        update["train"] = pipeline.train.model_copy(update={"frames": frames})
        update["curate"] = pipeline.curate.model_copy(update={"frames": frames})
        update["report"] = pipeline.report.model_copy(update={"frames": None})
    return pipeline.model_copy(update=update)


@dataclass
class _Facts:
    """What conditions read of one model, each looked up once, when first asked."""

    service: RetrainService
    policy: RetrainPolicy
    now: datetime
    _cache: dict[str, Any] = field(default_factory=dict)

    @property
    def last_fired_at(self) -> datetime | None:
        return self.policy.last_fired_at

    @property
    def policy_since(self) -> datetime:
        return self.policy.created_at

    def new_labels(self) -> tuple[int, datetime | None]:
        with self.service.store.reading() as uow:
            versions = uow.models.list_versions(self.policy.model)
            since = max((v.created_at for v in versions), default=None)
            return (uow.retrain.new_labels(self.policy.model, since) if since else 0), since

    def realized(self) -> dict[str, Any] | None:
        """The verification's `all` row of the champion (else the newest version), None before any label."""
        ref = self._current()
        if ref is None:
            return None
        rows = self.service.scoring.verify(ref).rows
        return next((row for row in rows if row["frame"] == "all"), None)

    def drift(self) -> dict[str, Any]:
        """The champion's drift since the policy last fired (see `crispml.services.watch.champion_drift`)."""
        ref = self._current()
        if ref is None or self.service.monitoring is None:
            return {"model_version": ref, "overall": {}, "error": "no model version or no monitoring to watch"}
        return champion_drift(self.service.monitoring, ref, self.policy.last_fired_at)

    def estimated(self) -> dict[str, Any] | None:
        """The CBPE estimate ('all' row) of the champion's unlabelled scores since the policy last fired."""
        ref = self._current()
        return None if ref is None else champion_estimate(self.service.scoring, ref, self.policy.last_fired_at)

    @cached_property
    def labelled_frames(self) -> list[int]:
        with self.service.store.reading() as uow:
            return uow.retrain.labelled_frames(self.policy.model)

    def _current(self) -> str | None:
        with self.service.store.reading() as uow:
            for ref in (f"{self.policy.model}@champion", self.policy.model):
                try:
                    return uow.models.get(ref).ref
                except NotFound:
                    continue
        return None


def _summary(policy: RetrainPolicy) -> dict[str, Any]:
    return {"conditions": list(policy.conditions), "cooldown_s": policy.cooldown_s,
            "pipeline": policy.pipeline.get("name")}  # fmt: skip


def _trigger_event(trigger: RetrainTrigger) -> dict[str, Any]:
    return {"trigger": trigger.id, "model": trigger.model, "kind": trigger.kind, "condition": trigger.condition,
            "figures": trigger.figures, "job": trigger.job_id, "status": trigger.status,
            "challenger": trigger.challenger, "error": trigger.error}  # fmt: skip
