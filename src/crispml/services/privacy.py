"""Data protection: column tags, pseudonymization, anonymization, a data subject's erasure, retention.

Each call is one transaction. Dataset files are content-addressed and shared by identical versions, so a
removed version's file is deleted only after the commit, and only when no live version still names it;
a crash in between leaves an unreferenced file that the store's start-up recovery deletes.
The pseudonym key comes from the caller's key provider (settings: a secret file or the environment)
and is never written anywhere.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pandas as pd

from crispml.domain import RECORD_ID, Dataset, ModelVersion
from crispml.errors import InvalidInput
from crispml.ports import InputLog, Storage
from crispml.services.base import Service, now
from crispml.services.dataset_versions import check_live, dataset_state, derived_version, store_child
from crispml.steps import privacy as steps
from crispml.steps.privacy import Tag

KeyProvider = Callable[[], bytes | None]
"""The pseudonym key, read when needed (None: none configured)."""

NO_KEY = (
    "no pseudonym key is configured: set CRISPML_PSEUDONYM_KEY_FILE to a file holding the secret "
    "(or CRISPML_PSEUDONYM_KEY); it is never stored in crispml's database"
)
ERASED = "erased"
EXPIRED = "expired"


@dataclass(frozen=True)
class Anonymization:
    dataset: Dataset
    report: dict[str, Any]


@dataclass(frozen=True)
class ErasedVersion:
    old: Dataset
    new: Dataset
    rows_removed: int


@dataclass(frozen=True)
class Erasure:
    """What an erasure did. The subject's value itself is recorded nowhere."""

    column: str
    versions: list[ErasedVersion]
    records: int
    labels_deleted: int
    scores_deleted: int
    files_deleted: int
    models: list[ModelVersion]
    """Model versions trained on a version that held the subject's rows: retrain them to forget."""


@dataclass(frozen=True)
class Retention:
    expired: list[Dataset]
    kept: list[tuple[Dataset, list[str]]]
    """Expired versions left alone because registered models depend on them (by model ref)."""
    files_deleted: int
    periods: dict[str, int] = field(default_factory=dict)


class PrivacyService(Service):
    def __init__(self, store: Storage, user: str, pseudonym_key: KeyProvider, inputs: InputLog | None = None) -> None:
        super().__init__(store, user)
        self._pseudonym_key = pseudonym_key
        self._inputs = inputs
        """The input log of records scored online, whose subjects' records an erasure removes too."""

    # -- tags -----------------------------------------------------------------------------------
    def tag(self, dataset_ref: str, tags: Mapping[str, str | None]) -> Dataset:
        """Set (or, with None or 'none', clear) column tags of a dataset version; returns it."""
        if not tags:
            raise InvalidInput("name at least one COLUMN=TAG", field="tags")
        with self.store.transaction() as uow:
            found = uow.datasets.get(dataset_ref)
            cleared = {c for c, t in tags.items() if t is None or t == "none"}
            setting = {c: t for c, t in tags.items() if c not in cleared and t is not None}
            columns = steps.taggable(list(found.columns), found.params.get("key"))
            merged = {**found.tags, **steps.check_tags(setting, columns)}
            for column in cleared:
                steps.check_tags({column: Tag.PERSONAL}, columns)  # the column must exist
                merged.pop(column, None)
            uow.datasets.set_tags(found.id, merged)
            uow.audit.append(action="privacy.tag", resource=f"dataset:{found.id}", before=found.tags, after=merged)
            return uow.datasets.get(found.id)

    # -- pseudonymization -----------------------------------------------------------------------
    def pseudonymize(
        self, dataset_ref: str, *, columns: Sequence[str] | None = None, name: str | None = None
    ) -> Dataset:
        """A new version with `columns` (default: those tagged personal) replaced by keyed HMAC-SHA256
        pseudonyms; if the dataset's record ids come from one of them, those are replaced too."""
        key = self._key()
        with self._perf("pseudonymize") as span:
            parent = self._live(dataset_ref)
            span.dataset = f"{parent.name}/{parent.version}"
            chosen = list(columns) if columns else steps.tagged(parent.tags, Tag.PERSONAL)
            if not chosen:
                raise InvalidInput(
                    f"dataset {parent.name}/{parent.version} has no column tagged personal; name the columns",
                    field="columns",
                )
            frame = self.store.read_frame(parent.sha256)
            span.rows_in = len(frame)
            out = steps.pseudonymize(frame, chosen, key, parent.params.get("key"))
            done = sorted({*parent.params.get("pseudonymized", []), *chosen})
            dataset = store_child(
                self.store, self.user, parent, out, name=name or parent.name, stage=parent.stage,
                params={**parent.params, "pseudonymized": done}, report=parent.report, action="privacy.pseudonymize",
            )  # fmt: skip
            span.rows_out = dataset.rows
            return dataset

    def _key(self) -> bytes:
        key = self._pseudonym_key()
        if not key:
            raise InvalidInput(NO_KEY, field="CRISPML_PSEUDONYM_KEY_FILE")
        return key

    # -- anonymization --------------------------------------------------------------------------
    def anonymize(
        self,
        dataset_ref: str,
        *,
        k: int,
        quasi_identifiers: Sequence[str] | None = None,
        sensitive: str | None = None,
        l_diversity: int | None = None,
        max_suppression: float = 0.05,
        name: str | None = None,
    ) -> Anonymization:
        """A new k-anonymous version: quasi-identifiers (default: the tagged ones) generalized and rows
        suppressed; columns tagged personal are dropped. Refused, with nothing written, when the
        result falls short of `k` (or of `l_diversity` distinct `sensitive` values per group).
        Stored as the next version of `name` (default: the dataset's name with '-anon')."""
        with self._perf("anonymize") as span:
            parent = self._live(dataset_ref)
            span.dataset = f"{parent.name}/{parent.version}"
            quasi = list(quasi_identifiers) if quasi_identifiers else steps.tagged(parent.tags, Tag.QUASI_IDENTIFIER)
            if l_diversity is not None and sensitive is None:
                marked = steps.tagged(parent.tags, Tag.SENSITIVE)
                sensitive = marked[0] if len(marked) == 1 else None
            frame = self.store.read_frame(parent.sha256)
            span.rows_in = len(frame)
            personal = [c for c in steps.tagged(parent.tags, Tag.PERSONAL)
                        if c in frame.columns and c not in quasi and c != sensitive]  # fmt: skip
            result = steps.anonymize(
                frame.drop(columns=personal), quasi, k, sensitive=sensitive, l_diversity=l_diversity,
                max_suppression=max_suppression,
            )  # fmt: skip
            report = {**result.report(), "quasi_identifiers": quasi, "sensitive": sensitive, "dropped": personal}
            if parent.tags.get(parent.params.get("key") or "") == Tag.PERSONAL:
                report["note"] = "record ids are the personal key column's values: pseudonymize it first"
            if not result.reached:
                wanted = f"k={k}" + (f", l={l_diversity} on {sensitive!r}" if l_diversity is not None else "")
                raise InvalidInput(
                    f"anonymization of {parent.name}/{parent.version} refused: {wanted} not reached even at the "
                    f"coarsest generalization (k achieved {result.k_achieved}, l achieved {result.l_achieved}, "
                    f"{result.rows_suppressed} of {result.rows_in} rows would be suppressed); nothing was written",
                    field="k",
                )
            dataset = store_child(
                self.store, self.user, parent, result.frame, name=name or f"{parent.name}-anon", stage=parent.stage,
                params={**parent.params, "anonymization": report}, report={**parent.report, "anonymization": report},
                action="privacy.anonymize",
            )  # fmt: skip
            span.rows_out = dataset.rows
            return Anonymization(dataset, report)

    # -- erasure --------------------------------------------------------------------------------
    def erase(self, column: str, value: str) -> Erasure:
        """Erase a data subject: every live dataset version holding rows whose `column` equals `value`
        (or whose record ids those rows carry) gets a new version without them, the old versions are
        marked erased (metadata, lineage and hashes stay) and their files deleted, and the subject's
        labels and scores (by record id) are deleted. All of it commits together, or nothing does."""
        if not column or not value:
            raise InvalidInput("name the subject as COLUMN=VALUE", field="key")
        with self._perf("erase") as span:
            with self.store.reading() as uow:
                live = [d for d in uow.datasets.list_versions() if d.removed is None]
                models = uow.models.list_versions()
            frames = {d.id: self.store.read_frame(d.sha256) for d in live}
            # Pseudonymized copies hold the subject under its pseudonym; without the key they are
            # still found by the record ids of the subject's rows elsewhere.
            secret = self._pseudonym_key()
            pseudonym = None if secret is None else str(steps.pseudonyms(pd.Series([value]), secret).iloc[0])
            subject_ids: set[str] = set()
            for d in live:
                subject_ids |= set(
                    frames[d.id].loc[_subject(d, frames[d.id], column, value, pseudonym), RECORD_ID].astype(str)
                )
            cuts: list[tuple[Dataset, pd.DataFrame, int]] = []
            for d in live:
                frame = frames[d.id]
                holds = frame[RECORD_ID].astype(str).isin(subject_ids) | _subject(d, frame, column, value, pseudonym)
                if holds.any():
                    cuts.append((d, frame[~holds.to_numpy()].reset_index(drop=True), int(holds.sum())))
            span.rows_in = sum(n for _d, _f, n in cuts)
            if not cuts:
                return Erasure(column, [], 0, 0, 0, 0, [])
            staged = [self.store.stage_frame(kept) for _d, kept, _n in cuts]
            at = now()
            with self.store.committing(*staged) as uow:
                versions = []
                for (old, kept, removed), file in zip(cuts, staged, strict=True):
                    erasure = {"column": column, "rows_removed": removed, "erased_at": at.isoformat()}
                    params = {**old.params, "erasure": erasure}
                    new = derived_version(self.user, old, kept, file.sha256, params=params, report=old.report)
                    versions.append(ErasedVersion(old, uow.datasets.add(new), removed))
                uow.datasets.mark_removed([v.old.id for v in versions], ERASED, self.user, at)
                labels = uow.labels.delete_records(subject_ids)
                scores = uow.ledger.delete_records(subject_ids)
                # The subject's value is not logged: the event names the column and what was removed.
                for version in versions:
                    uow.audit.append(
                        action="privacy.erase", resource=f"dataset:{version.old.id}",
                        before=dataset_state(version.old), after={**dataset_state(version.new), "column": column,
                        "rows_removed": version.rows_removed, "labels_deleted": labels, "scores_deleted": scores},
                    )  # fmt: skip
            files = self.store.delete_frames({v.old.sha256 for v in versions})
            if self._inputs is not None:  # the inputs scored online under the subject's record ids
                inputs = self._inputs.erase(subject_ids)
                with self.store.transaction() as uow:
                    uow.audit.append(action="privacy.erase", resource="input-log",
                                     after={"column": column, "records_deleted": inputs})  # fmt: skip
            affected = {v.old.id for v in versions}
            trained = [m for m in models if m.dataset_id in affected]
            span.rows_out = span.rows_in
            return Erasure(column, versions, len(subject_ids), labels, scores, files, trained)

    # -- encryption at rest -----------------------------------------------------------------------
    def encrypt_at_rest(self) -> Any:
        """Encrypt every dataset and model file still in plaintext, or under an older key, with the current
        key (files written before encryption was turned on, or before a key rotation); audited."""
        with self._perf("encrypt_at_rest"):
            sweep = self.store.encrypt_at_rest()
            if sweep.rewritten == 0:  # nothing changed: nothing to audit
                return sweep
            with self.store.transaction() as uow:
                uow.audit.append(action="privacy.encrypt", resource="artifacts",
                                 after={"rewritten": sweep.rewritten, "mismatched": sweep.mismatched})  # fmt: skip
            return sweep

    # -- retention ------------------------------------------------------------------------------
    def set_retention(self, name: str, days: int | None) -> dict[str, int]:
        """Keep versions of dataset `name` for `days` days after their creation (None: for ever);
        returns every retention period by dataset name."""
        if days is not None and not 0 <= days <= 100_000:
            raise InvalidInput(f"retention of {days} days must lie in 0..100000", field="days")
        with self.store.transaction() as uow:
            uow.datasets.get(name)  # the name must exist
            before = uow.datasets.retention().get(name)
            uow.datasets.set_retention(name, days, self.user, now())
            uow.audit.append(action="privacy.retention.set", resource=f"dataset-name:{name}",
                             before={"days": before}, after={"days": days})  # fmt: skip
            return uow.datasets.retention()

    def retention(self) -> dict[str, int]:
        """Retention periods in days by dataset name."""
        with self.store.reading() as uow:
            return uow.datasets.retention()

    def apply_retention(self, *, force: bool = False, as_of: datetime | None = None) -> Retention:
        """Delete the rows of every version older than its name's retention period (metadata and lineage
        stay, marked expired). A version a registered model depends on (trained on it or on a dataset
        derived from it) is kept and listed, unless `force`."""
        when = as_of or now()
        with self._perf("retention") as span:
            with self.store.transaction() as uow:
                periods = uow.datasets.retention()
                every = uow.datasets.list_versions()
                models = uow.models.list_versions()
                due = [d for d in every if d.removed is None and d.name in periods
                       and d.created_at + timedelta(days=periods[d.name]) <= when]  # fmt: skip
                needed = _needed_by_registered(every, models)
                kept = [(d, needed[d.id]) for d in due if d.id in needed and not force]
                expired = [d for d in due if force or d.id not in needed]
                uow.datasets.mark_removed([d.id for d in expired], EXPIRED, self.user, when)
                for dataset in expired:
                    uow.audit.append(action="privacy.retention.expire", resource=f"dataset:{dataset.id}",
                                     before=dataset_state(dataset), after={"removed": EXPIRED})  # fmt: skip
            files = self.store.delete_frames({d.sha256 for d in expired})
            span.rows_out = len(expired)
            return Retention(expired, kept, files, periods)

    # -- helpers --------------------------------------------------------------------------------
    def _live(self, ref: str) -> Dataset:
        with self.store.reading() as uow:
            found = uow.datasets.get(ref)
        return check_live(found)


def _subject(dataset: Dataset, frame: pd.DataFrame, column: str, value: str, pseudonym: str | None) -> pd.Series:
    """The subject's rows in a dataset: by the column, or by record id where the column was its key;
    where the column was pseudonymized, by its pseudonym (when the key is at hand)."""
    if column in dataset.params.get("pseudonymized", []):
        if pseudonym is None:
            return pd.Series(False, index=frame.index)
        value = pseudonym
    if column == dataset.params.get("key"):
        return frame[RECORD_ID].astype(str) == value
    if column in frame.columns:
        return steps.subject_rows(frame, column, value)
    return pd.Series(False, index=frame.index)


def _needed_by_registered(datasets: Sequence[Dataset], models: Sequence[ModelVersion]) -> dict[str, list[str]]:
    """Dataset id -> refs of the registered model versions whose lineage passes through it."""
    by_id = {d.id: d for d in datasets}
    needed: dict[str, list[str]] = {}
    for model in models:
        if not model.registered:
            continue
        current = by_id.get(model.dataset_id)
        while current is not None:
            needed.setdefault(current.id, []).append(model.ref)
            current = by_id.get(current.parent_id) if current.parent_id else None
    return needed
