"""The Prometheus text the operations service answers, and the label counts behind it, on both stores
(the HTTP tests in tests/api/test_metrics.py run the whole lifecycle on SQLite)."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from crispml.local import Crispml


def samples(cml: Crispml) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = cml.container.operations.prometheus_text("0.1.0").decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}  # fmt: skip


def test_jobs_aliases_and_unscored_labels_read_from_either_store(cml: Crispml) -> None:
    before = samples(cml)
    assert before[("crispml_jobs", (("state", "queued"),))] == 0 and before[("crispml_job_queue_depth", ())] == 0
    assert not [name for name, _labels in before if name == "crispml_model_info"]  # no alias yet
    unscored = before.get(("crispml_labels_unscored_total", ()), 0)

    report = cml.label(records=[{"record_id": "never-1", "label": 1}, {"record_id": "never-2", "label": 0}])

    after = samples(cml)
    assert report.unknown == 2 and after[("crispml_labels_unscored_total", ())] == unscored + 2
    # Counters are the process's (other tests may have counted before): none for a version grew.
    imported = {key: v for key, v in after.items() if key[0] == "crispml_labels_imported_total"}
    assert imported == {key: v for key, v in before.items() if key[0] == "crispml_labels_imported_total"}
