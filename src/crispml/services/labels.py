"""NewDataLabel: ground truth upserted by record id, from a file, records or a dataset's target."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from crispml.domain import FRAME, RECORD_ID
from crispml.domain.refs import parse_frames
from crispml.errors import InvalidInput
from crispml.observability import metrics
from crispml.services.base import GroupedPerfService, new_id, now
from crispml.services.score_inputs import frames_text, read_records
from crispml.steps.labels import label_frame
from crispml.storage.audit_chain import canonical, digest

log = logging.getLogger("crispml.labels")


@dataclass(frozen=True)
class LabelReport:
    import_id: str
    imported: int
    positives: int
    unknown: int
    unknown_sample: list[str] = field(default_factory=list)


class LabelService(GroupedPerfService):
    def label(
        self,
        *,
        file: str | None = None,
        records: list[dict[str, Any]] | pd.DataFrame | None = None,
        dataset: str | None = None,
        frames: str | list[int] | None = None,
        id_column: str = RECORD_ID,
        label_column: str = "label",
    ) -> LabelReport:
        """Upsert ground truth by record id; labels for records never scored are stored and counted."""
        chosen = [x for x in (dataset, file, records) if x is not None]
        if len(chosen) != 1:
            raise InvalidInput("label from exactly one of: a file, records, or a dataset", field="source")
        with self._perf("label") as span:
            if dataset is not None:
                with self.store.reading() as uow:
                    found = uow.datasets.get(dataset)
                chosen_frames = parse_frames(frames, found.frames)
                frame = self.store.read_frame(found.sha256, [RECORD_ID, FRAME, found.target], chosen_frames)
                known = frame[frame[found.target].notna()]  # a row without a target has no label to import
                labels = pd.DataFrame({"record_id": known[RECORD_ID], "label": known[found.target].astype("int64")})
                source = f"{found.name}/{found.version} frames {frames_text(chosen_frames)}"
                span.dataset = f"{found.name}/{found.version}"
            else:
                raw = read_records(file, records, (id_column,))
                labels = label_frame(raw, id_column, label_column)
                source = file or "records"
            span.rows_in = len(labels)
            if labels.empty:
                raise InvalidInput("there are no labels to import", field="source")
            import_id = new_id("li")
            record_ids = labels["record_id"].astype(str).tolist()
            with self.store.transaction() as uow:
                replaced = uow.labels.existing(record_ids)
                uow.labels.upsert(labels, source, import_id, self.user, now())
                unknown, sample = uow.labels.unscored(import_id)
                uow.audit.append(
                    action="labels.import",
                    resource=f"labels:{import_id}",
                    before=_replaced_state(replaced),
                    after={
                        "import_id": import_id,
                        "source": source,
                        "labels": len(labels),
                        "positives": int(labels["label"].sum()),
                        "labels_sha256": _labels_digest(record_ids, labels),
                    },
                    principal=self.user,
                )
            metrics.labels_imported(self._scored_by_version(import_id), unknown)
            span.rows_out = len(labels)
            return LabelReport(import_id, len(labels), int(labels["label"].sum()), unknown, sample)

    def _scored_by_version(self, import_id: str) -> dict[tuple[str, int], int]:
        """The import's labels per model version that scored their records, for the metrics: read after
        the commit (a pass over the ledger, not under the write lock); a failure costs the figure only."""
        try:
            with self.store.reading() as uow:
                return uow.labels.scored_by_version(import_id)
        except Exception:  # the labels are committed: the import must not fail for a metric
            log.warning("could not count the labels of import %s by model version", import_id, exc_info=True)
            return {}


REPLACED_KEPT = 1000
"""Replaced labels an audit event keeps record by record; beyond that, their count and digest only."""


def _replaced_state(replaced: dict[str, int]) -> dict[str, Any]:
    """What a label import's audit event records of the labels it replaced."""
    state: dict[str, Any] = {"replaced": len(replaced), "old_labels_sha256": digest(canonical(replaced))}
    if len(replaced) <= REPLACED_KEPT:
        state["old_labels"] = replaced
    return state


def _labels_digest(record_ids: list[str], labels: pd.DataFrame) -> str | None:
    """The sha256 of an import's labels by record id (the audit event keeps this, not the labels)."""
    return digest(canonical(dict(zip(record_ids, labels["label"].tolist(), strict=True))))
