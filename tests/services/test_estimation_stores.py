"""Label-free estimates on both stores: the calibration a version names survives the start-up's recovery of
orphaned files, and the estimate and verify's side-by-side read it back (the figures themselves are tested
in test_estimation.py)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import crispml
from crispml.local import Crispml


def test_the_calibration_is_kept_by_recovery_and_read_back(
    trained: Crispml, home: Path, database_url: str | None
) -> None:
    model = trained.models("fraud")[0]
    calibration = model.metrics["calibration"]
    assert calibration["method"] in ("platt", "isotonic", "identity")
    stored = home / "artifacts" / "models" / f"{calibration['sha256']}.calibration.json"
    hours_ago = time.time() - 3 * 3600
    os.utime(stored, (hours_ago, hours_ago))  # older than any orphan recovery would spare
    trained.score("fraud@champion", dataset="ccf", frames="7-12")
    with crispml.connect(home=home, database_url=database_url, user="tester") as again:  # recovers at start-up
        assert stored.exists()
        estimation = again.estimate("fraud@champion", frames="7-12")
        assert estimation.warnings == []
        assert [row["frame"] for row in estimation.rows] == [7, 8, 9, 10, 11, 12, "all"]
        assert {row["calibration"] for row in estimation.rows} == {calibration["method"]}
        again.label(dataset="ccf", frames="7-12")
        rows = again.verify("fraud@champion", frames="7-12").rows
    every = rows[-1]
    assert every["frame"] == "all" and every["estimate"]["rows"] == every["scored"]
    assert set(every["estimate"]["mean_absolute_error"]) == {"roc_auc", "precision", "recall", "f1"}
