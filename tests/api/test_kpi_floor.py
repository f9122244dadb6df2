"""The fallback's KPI floor over HTTP: labels that sink the champion's realized KPI switch a loaded server to
the fallback with no request failing; /readyz, the metrics and the audit log say so."""

from __future__ import annotations

from pathlib import Path

import httpx

import crispml
from crispml.domain import FRAME, RECORD_ID
from crispml.services.synthesis import write_synthetic
from tests.api.conftest import Server
from tests.api.test_fallback import scoring_under_load
from tests.conftest import wait_for
from tests.services.test_fallback import champion_and_fallback
from tests.steps.test_fast_path import later_rows

CLIENTS = 3
FLOOR = {"CRISPML_FALLBACK_KPI": "roc_auc", "CRISPML_FALLBACK_FLOOR": "0.8", "CRISPML_FALLBACK_FRAMES": "3",
         "CRISPML_FALLBACK_MIN_LABELS": "20"}  # fmt: skip


def test_labels_under_the_floor_switch_a_loaded_server_to_the_fallback(tmp_path: Path) -> None:
    source = tmp_path / "creditcard.csv"
    write_synthetic(source, 6_000)
    with crispml.connect(home=tmp_path / "home", user="tester") as cml:
        champion, fallback, _ = champion_and_fallback(cml, source)
        cml.scoring.score("fraud@champion", dataset="ccf", frames="7-12")
        records = later_rows(cml, 1).to_dict("records")
        truth = cml.lifecycle.dataset_frame("ccf")
    truth = truth[truth[FRAME] >= 7]
    wrong = [{"record_id": r, "label": 1 - int(c)} for r, c in zip(truth[RECORD_ID], truth["Class"], strict=True)]
    server = Server(tmp_path / "home", None, FLOOR).start()
    try:
        url = f"{server.url}/api/v1/models/fraud/score"
        assert httpx.get(f"{server.url}/readyz").json()["status"] == "ready"
        with scoring_under_load(url, records, CLIENTS) as answers:
            imported = httpx.put(f"{server.url}/api/v1/labels", json={"labels": wrong}, timeout=60)
            assert imported.status_code == 200
            wait_for(lambda: all(sum(a.get("model") == fallback.ref for _, a in mine) >= 10 for mine in answers))

        every = [answer for mine in answers for answer in mine]
        assert [status for status, _ in every if status != 200] == []
        reasons = {a["fallback_reason"] for _, a in every if a["model"] == fallback.ref}
        assert {a["model"] for _, a in every} == {champion.ref, fallback.ref} and len(reasons) == 1
        reason = reasons.pop()
        assert reason.startswith(f"kpi_floor: {champion.ref}: roc_auc ") and "over frames 10-12" in reason
        ready = httpx.get(f"{server.url}/readyz").json()
        assert (ready["status"], ready["degraded"]) == ("degraded", {"fraud@champion": reason})
        metrics = httpx.get(f"{server.url}/metrics").text.splitlines()
        counted = [
            line
            for line in metrics
            if line.startswith("crispml_fallback_scores_total{") and 'reason="kpi_floor"' in line
        ]
        assert len(counted) == 1 and float(counted[0].rsplit(" ", 1)[1]) == sum(
            a["model"] == fallback.ref for _, a in every
        )
        active = [line for line in metrics if line.startswith("crispml_fallback_active{")]
        assert active == ['crispml_fallback_active{model="fraud@champion",reason="kpi_floor"} 1.0']
        events = httpx.get(f"{server.url}/api/v1/audit", params={"action": "fallback.*"}).json()["items"]
        assert [(e["action"], e["resource"], e["after"]["reason"]) for e in events] == [
            ("fallback.kpi_floor", "alias:fraud@champion", reason)
        ]
    finally:
        server.stop()
