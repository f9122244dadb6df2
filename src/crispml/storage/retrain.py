"""Repository of retraining policies (one per model) and the triggers they fired."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update
from sqlalchemy.engine import RowMapping

from crispml.domain.policies import RetrainPolicy, RetrainTrigger
from crispml.errors import NotFound
from crispml.storage import schema as t

_POLICY = t.retrain_policies
_TRIGGER = t.retrain_triggers


class RetrainRepository:
    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    # -- policies
    def find_policy(self, model: str) -> RetrainPolicy | None:
        row = self.connection.execute(select(_POLICY).where(_POLICY.c.model == model)).mappings().first()
        return None if row is None else _policy(row)

    def get_policy(self, model: str) -> RetrainPolicy:
        found = self.find_policy(model)
        if found is None:
            raise NotFound(f"model {model!r} has no retraining policy; set one with `crispml retrain policy set`")
        return found

    def list_policies(self) -> list[RetrainPolicy]:
        return [_policy(r) for r in self.connection.execute(select(_POLICY).order_by(_POLICY.c.model)).mappings()]

    def put_policy(self, policy: RetrainPolicy) -> None:
        """Insert the policy, or replace the model's one (its revision bumped, its last firing kept)."""
        values = {"conditions": list(policy.conditions), "pipeline": policy.pipeline, "cooldown_s": policy.cooldown_s,
                  "updated_at": policy.updated_at}  # fmt: skip
        changed = self.connection.execute(
            update(_POLICY).where(_POLICY.c.model == policy.model).values(revision=_POLICY.c.revision + 1, **values)
        ).rowcount
        if not changed:
            self.connection.execute(insert(_POLICY).values(model=policy.model, revision=1, created_by=policy.created_by,
                                                           created_at=policy.created_at, **values))  # fmt: skip

    def remove_policy(self, model: str) -> None:
        if self.connection.execute(delete(_POLICY).where(_POLICY.c.model == model)).rowcount == 0:
            raise NotFound(f"model {model!r} has no retraining policy")

    def claim(self, model: str, revision: int, at: datetime) -> bool:
        """Mark the policy fired at `at` if it is still at `revision`: of several evaluators that read the
        same revision, exactly one sees True (the others' conditional update matches no row)."""
        query = (
            update(_POLICY)
            .where(_POLICY.c.model == model, _POLICY.c.revision == revision)
            .values(revision=revision + 1, last_fired_at=at)
        )
        return bool(self.connection.execute(query).rowcount == 1)

    # -- triggers
    def add_trigger(self, trigger: RetrainTrigger) -> None:
        self.connection.execute(insert(_TRIGGER).values(**vars(trigger)))

    def finish_trigger(self, trigger_id: str, **values: Any) -> bool:
        """End a running trigger; False if it had already ended (nothing changes then)."""
        query = update(_TRIGGER).where(_TRIGGER.c.id == trigger_id, _TRIGGER.c.status == "running").values(**values)
        return bool(self.connection.execute(query).rowcount == 1)

    def get_trigger(self, trigger_id: str) -> RetrainTrigger:
        row = self.connection.execute(select(_TRIGGER).where(_TRIGGER.c.id == trigger_id)).mappings().first()
        if row is None:
            raise NotFound(f"retraining trigger {trigger_id!r} does not exist")
        return RetrainTrigger(**row)

    def list_triggers(self, model: str | None, limit: int) -> list[RetrainTrigger]:
        query = select(_TRIGGER).order_by(_TRIGGER.c.fired_at.desc(), _TRIGGER.c.id).limit(limit)
        if model is not None:
            query = query.where(_TRIGGER.c.model == model)
        return [RetrainTrigger(**row) for row in self.connection.execute(query).mappings()]

    def running(self, model: str) -> bool:
        query = select(func.count()).where(_TRIGGER.c.model == model, _TRIGGER.c.status == "running")
        return bool(self.connection.scalar(query))

    def trigger_of(self, model_version_id: str) -> RetrainTrigger | None:
        """The trigger whose run made this model version, if one did."""
        query = select(_TRIGGER).where(_TRIGGER.c.model_version_id == model_version_id)
        row = self.connection.execute(query).mappings().first()
        return None if row is None else RetrainTrigger(**row)

    # -- what conditions read: labels that met the ledger of a model's versions
    def new_labels(self, model: str, since: datetime) -> int:
        """Records the model's versions scored whose label arrived after `since`."""
        query = (
            select(func.count(t.labels.c.record_id.distinct()))
            .select_from(t.labels)
            .join(t.scores, t.scores.c.record_id == t.labels.c.record_id)
            .join(t.score_batches, t.score_batches.c.id == t.scores.c.batch_id)
            .join(t.model_versions, t.model_versions.c.id == t.score_batches.c.model_version_id)
            .where(t.model_versions.c.name == model, t.labels.c.labelled_at > since)
        )
        return int(self.connection.scalar(query) or 0)

    def labelled_frames(self, model: str) -> list[int]:
        """The frames in which the model's versions scored records that now have a label, ascending."""
        query = (
            select(t.scores.c.frame)
            .distinct()
            .join(t.labels, t.labels.c.record_id == t.scores.c.record_id)
            .join(t.score_batches, t.score_batches.c.id == t.scores.c.batch_id)
            .join(t.model_versions, t.model_versions.c.id == t.score_batches.c.model_version_id)
            .where(t.model_versions.c.name == model, t.scores.c.frame.is_not(None))
        )
        return sorted(int(frame) for frame in self.connection.scalars(query))


def _policy(row: RowMapping) -> RetrainPolicy:
    return RetrainPolicy(
        model=row["model"],
        conditions=tuple(row["conditions"]),
        pipeline=row["pipeline"],
        cooldown_s=row["cooldown_s"],
        revision=row["revision"],
        created_by=row["created_by"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        last_fired_at=row["last_fired_at"],
    )
