"""Registered data sources: their names and kinds, and the tables of a database source (the console's
table browser). Locations and passwords are never answered."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response

from crispml.api.deps import SourcesDep
from crispml.api.problems import problem_responses
from crispml.contract import requests as req
from crispml.contract.answers import Page, SourceAnswer, SourceTableAnswer

router = APIRouter(prefix="/api/v1/sources", tags=["sources"])
SourceName = Annotated[req.Name, Path(description="A registered source's name.")]


@router.get("", summary="Registered data sources (names and kinds)", responses=problem_responses(422))
def sources(service: SourcesDep) -> Page[SourceAnswer]:
    found = [SourceAnswer.from_domain(s) for s in service.list_sources()]
    return Page[SourceAnswer].of(found, len(found))


@router.post("", status_code=201, summary="Register a data source (admin)", responses=problem_responses(409, 422))
def add_source(body: req.SourceAddBody, service: SourcesDep) -> SourceAnswer:
    return SourceAnswer.from_domain(service.add(body.name, body.url))


@router.delete("/{name}", status_code=204, summary="Forget a data source (admin)",
               responses=problem_responses(404, 422))  # fmt: skip
def remove_source(name: SourceName, service: SourcesDep) -> Response:
    service.remove(name)
    return Response(status_code=204)


@router.get("/{name}/tables", summary="Tables of a database source, with their columns and row counts",
            responses=problem_responses(404, 422, 503))  # fmt: skip
def source_tables(name: SourceName, service: SourcesDep) -> Page[SourceTableAnswer]:
    found = [SourceTableAnswer.from_domain(t) for t in service.tables(name)]
    return Page[SourceTableAnswer].of(found, len(found))
