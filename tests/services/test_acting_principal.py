"""Rows record the principal a call acts as, also when the work runs on a job's thread."""

from __future__ import annotations

from pathlib import Path

from crispml.identity import Principal, Role, acting_as
from crispml.local import Crispml
from tests.conftest import crispml_source


def test_a_dataset_records_the_acting_principal_not_the_services_user(cml: Crispml, small_csv: Path) -> None:
    with acting_as(Principal("ada", Role.STEWARD)):
        dataset = cml.ingest(crispml_source(small_csv), name="ccf")
    assert dataset.created_by == "ada"
    assert cml.prepare(dataset.id).created_by == "tester"  # no principal: the user the store was opened as


def test_a_job_acts_as_the_principal_who_submitted_it(cml: Crispml) -> None:
    seen: list[str] = []

    def work(_progress: object) -> dict[str, str]:
        seen.append(cml.jobs.user)
        return {}

    with acting_as(Principal("bob", Role.SCIENTIST)):
        job = cml.jobs.submit("test", {}, work)  # type: ignore[arg-type]
    finished = cml.jobs.wait(job.id, timeout_s=30)
    assert finished.status.value == "succeeded"
    assert (finished.created_by, seen) == ("bob", ["bob"])
