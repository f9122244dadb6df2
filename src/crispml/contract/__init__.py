"""The one declaration of every method: its name, what it does, its request and its answer.

REST routes, CLI commands and the Python client are adapters over `METHODS`; tests hold each of them
to it (same names, same parameters). The request model lists every parameter wherever a transport
puts it; its bounds and docs are the ones every adapter shows.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel

from crispml.contract import answers as a
from crispml.contract import requests as r
from crispml.contract import scoring as sc


@dataclass(frozen=True)
class MethodSpec:
    """One method: `name` is also the REST operationId, the CLI command and the client method."""

    name: str
    summary: str
    request: type[BaseModel]
    answer: type[BaseModel]
    job: bool = False
    """Runs as a durable job (answers a job resource unless the caller waits)."""


_SPECS = (
    MethodSpec("ingest", "DataIngestion: read a source into a new raw dataset version cut into time frames",
               r.IngestRequest, a.DatasetAnswer, job=True),
    MethodSpec("prepare", "DataPreparation: impute or drop missing values into a prepared dataset version",
               r.PrepareRequest, a.DatasetAnswer),
    MethodSpec("curate", "DataCuration: algorithm-specific transforms fitted on some frames, stored for scoring",
               r.CurateRequest, a.DatasetAnswer),
    MethodSpec("train", "ModelTraining: a new version of a model, trained on some frames of a dataset",
               r.TrainRequest, a.ModelVersionAnswer, job=True),
    MethodSpec("report", "ModelReport: KPIs of a model version on frames it was not trained on",
               r.ReportRequest, a.ReportAnswer),
    MethodSpec("persist", "ModelPersist: register a model version and point an alias at it",
               r.PersistRequest, a.ModelVersionAnswer),
    MethodSpec("score", "NewDataScore: score records at once, or a dataset's frames as a job; every score persisted",
               r.ScoreRequest, sc.ScoreBatchAnswer, job=True),
    MethodSpec("label", "NewDataLabel: upsert ground truth by record id",
               r.LabelRequest, sc.LabelReportAnswer),
    MethodSpec("verify", "NewDataReport: persisted scores against labels per model version and frame",
               r.VerifyRequest, sc.VerificationAnswer),
    MethodSpec("estimate", "Performance before labels: CBPE estimates of unlabelled scores per model version and frame",
               r.EstimateRequest, sc.EstimationAnswer),
    MethodSpec("monitor", "Drift of a model version's inputs and scores against its training frames' profile",
               r.MonitorRequest, sc.MonitoringAnswer),
    MethodSpec("lineage", "Lineage of a model version back to its raw source",
               r.LineageRequest, a.Page[a.LineageNodeAnswer]),
    MethodSpec("batch", "The persisted scores of one batch, a page at a time",
               r.BatchRequest, sc.ScoreBatchPage),
    MethodSpec("datasets", "Dataset versions, newest last",
               r.DatasetsRequest, a.Page[a.DatasetAnswer]),
    MethodSpec("models", "Model names with their newest version and aliases",
               r.ModelsRequest, a.Page[a.ModelAnswer]),
    MethodSpec("perf", "Performance records with medians per method",
               r.PerfRequest, a.PerfAnswer),
    MethodSpec("jobs", "Recent jobs, newest first",
               r.JobsRequest, a.Page[a.JobAnswer]),
    MethodSpec("job", "A job: status, progress, result or error",
               r.JobRequest, a.JobAnswer),
)  # fmt: skip

METHODS: dict[str, MethodSpec] = {spec.name: spec for spec in _SPECS}
"""Every declared method by name."""

__all__ = ["METHODS", "MethodSpec"]
