"""Requests and answers of the data-protection calls (`/api/v1/privacy/...`, `crispml privacy ...`).

They are not among the nine methods; REST, the CLI (`--json`) and the client share these shapes.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from crispml.contract.answers import DatasetAnswer
from crispml.contract.requests import ColumnName, ColumnTag, Name, Ref, Strict

TagOrClear = ColumnTag | None


class TagsBody(Strict):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"dataset": "ccf", "tags": {"V1": "quasi-identifier"}}]}
    )

    dataset: Ref
    tags: dict[ColumnName, TagOrClear] = Field(
        min_length=1, max_length=10_000, description="Column to personal, quasi-identifier or sensitive; null clears."
    )


class PseudonymizeBody(Strict):
    dataset: Ref
    columns: list[ColumnName] | None = Field(
        None, max_length=10_000, description="Columns to pseudonymize (default: those tagged personal)."
    )
    name: Name | None = Field(None, description="Dataset name of the result (default: the same name).")


class AnonymizeBody(Strict):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"dataset": "ccf", "k": 5, "quasi_identifiers": ["V1"]}]}
    )

    dataset: Ref
    k: int = Field(ge=1, le=1_000_000, description="Every group of equal quasi-identifiers holds at least k rows.")
    quasi_identifiers: list[ColumnName] | None = Field(
        None, max_length=1000, description="Default: the columns tagged quasi-identifier."
    )
    sensitive: ColumnName | None = Field(None, description="Sensitive column for l-diversity.")
    l_diversity: int | None = Field(None, ge=1, le=1_000_000, description="Distinct sensitive values per group.")
    max_suppression: float = Field(0.05, ge=0, le=1, description="Share of rows that may be suppressed.")
    name: Name | None = Field(None, description="Dataset name of the result (default: NAME-anon).")


SubjectValue = Annotated[str, Field(min_length=1, max_length=1000)]


class ErasureBody(Strict):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"column": "customer", "value": "c42"}]})

    column: ColumnName = Field(description="The column identifying the data subject (a key column too).")
    value: SubjectValue = Field(description="The subject's value in that column.")


class RetentionBody(Strict):
    name: Name = Field(description="A dataset name: the period applies to all its versions.")
    days: int | None = Field(ge=0, le=100_000, description="Days a version is kept after its creation; null: for ever.")


class ApplyRetentionBody(Strict):
    force: bool = Field(False, description="Also delete versions registered models depend on.")


class AnonymizationAnswer(BaseModel):
    dataset: DatasetAnswer
    report: dict[str, Any] = Field(description="k and l achieved, rows suppressed, information loss, levels.")

    @classmethod
    def of(cls, result: Any) -> AnonymizationAnswer:
        return cls(dataset=DatasetAnswer.from_domain(result.dataset), report=result.report)


class ErasedVersionAnswer(BaseModel):
    erased: str = Field(description="The version whose rows held the subject (name/version); its file is deleted.")
    replaced_by: str = Field(description="The new version without them.")
    rows_removed: int


class ErasureAnswer(BaseModel):
    column: str
    versions: list[ErasedVersionAnswer]
    records: int = Field(description="Distinct record ids of the subject.")
    labels_deleted: int
    scores_deleted: int
    files_deleted: int
    models: list[str] = Field(description="Model versions trained on an erased version: retrain them to forget.")

    @classmethod
    def of(cls, erasure: Any) -> ErasureAnswer:
        versions = [
            ErasedVersionAnswer(
                erased=f"{v.old.name}/{v.old.version}", replaced_by=f"{v.new.name}/{v.new.version}",
                rows_removed=v.rows_removed,
            )
            for v in erasure.versions
        ]  # fmt: skip
        return cls(
            column=erasure.column, versions=versions, records=erasure.records, labels_deleted=erasure.labels_deleted,
            scores_deleted=erasure.scores_deleted, files_deleted=erasure.files_deleted,
            models=[m.ref for m in erasure.models],
        )  # fmt: skip


class RetentionAnswer(BaseModel):
    periods: dict[str, int] = Field(description="Retention in days by dataset name.")


class KeptVersion(BaseModel):
    dataset: str
    needed_by: list[str] = Field(description="Registered model versions that depend on it.")


class RetentionRunAnswer(BaseModel):
    expired: list[str] = Field(description="Versions whose rows were deleted (name/version).")
    kept: list[KeptVersion] = Field(description="Expired versions kept because registered models depend on them.")
    files_deleted: int
    periods: dict[str, int]

    @classmethod
    def of(cls, run: Any) -> RetentionRunAnswer:
        return cls(
            expired=[f"{d.name}/{d.version}" for d in run.expired],
            kept=[KeptVersion(dataset=f"{d.name}/{d.version}", needed_by=refs) for d, refs in run.kept],
            files_deleted=run.files_deleted,
            periods=run.periods,
        )
