"""The published pipeline schema: checked in, current, and the reference pipeline satisfies it."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from crispml.contract.pipeline import schema_text
from crispml.errors import InvalidInput
from crispml.services.pipelines import check_pipeline, parse_pipeline

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "schemas" / "pipeline.schema.json"


def test_the_checked_in_schema_is_current() -> None:
    assert SCHEMA.read_text(encoding="utf-8") == schema_text(), (
        "schemas/pipeline.schema.json is stale: run `crispml pipeline schema > schemas/pipeline.schema.json`"
    )


def test_the_reference_pipeline_satisfies_the_schema() -> None:
    text = (ROOT / "pipelines" / "fraud.yaml").read_text(encoding="utf-8")
    jsonschema.validate(yaml.safe_load(text), json.loads(SCHEMA.read_text(encoding="utf-8")))
    pipeline = parse_pipeline(text)
    check_pipeline(pipeline)
    assert pipeline.steps() == ["ingest", "prepare", "curate", "train", "report", "gates", "persist", "score",
                                "label", "verify"]  # fmt: skip


GOOD = "name: p\ndataset: ccf\ntrain: {name: fraud}\n"


@pytest.mark.parametrize(
    ("text", "path", "says"),
    [
        (GOOD.replace("{name: fraud}", "{name: fraud, wieght: 10}"), "train.wieght", "unknown key"),
        (GOOD + "prepare: {missing: mean}\n", "prepare.missing", "'median', 'drop' or 'zero'"),
        (GOOD + "gates: [{kpi: roc_auc, value: high}]\n", "gates.0.value", "valid number"),
        (GOOD + "gates: [{kpi: roc-auc, value: 0.9}]\n", "gates.0.kpi", "'roc_auc', 'pr_auc'"),
        (GOOD.replace("{name: fraud}", "{name: fraud, algorithm: xgb}"), "train.algorithm", "unknown algorithm 'xgb'"),
        (GOOD.replace("{name: fraud}", "{name: fraud, params: {depth: 3}}"), "train.params", "depth"),
        ("name: p\ntrain: {name: fraud}\n", "pipeline", "exactly one of"),
        ("name: [p\n", "pipeline", "not valid YAML"),
    ],
)
def test_a_bad_file_is_one_error_naming_the_path(text: str, path: str, says: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        check_pipeline(parse_pipeline(text))
    assert raised.value.field == path and says in raised.value.message, raised.value.message
