"""One door: every method declared in `crispml.contract` is offered by the CLI, the Python client and both
CLI backends with the declared parameters (the REST side is held to it by tests/api/test_contract.py).

A new request field fails these tests until every adapter offers it, or this file says why one spells it
differently. The tables below are the only places where an adapter may differ from the declaration.
"""

from __future__ import annotations

import inspect

import pytest
import typer.main

from crispml.backends import Backend
from crispml.backends.local_backend import LocalBackend
from crispml.backends.remote_backend import RemoteBackend
from crispml.cli import app
from crispml.client import AsyncClient, Client
from crispml.contract import METHODS

DELIVERY = {"wait", "timeout", "limit", "offset"}
"""How an answer is delivered, not what it is: the CLI waits for jobs and lists everything."""
CLI_ONLY = {"remote", "as_json", "output"}
"""Presentation and transport options every command may have."""
MODEL_REF = {"name", "version", "alias"}
"""A CLI takes one model reference (`fraud@champion`, `fraud/3`) where REST takes name, version, alias."""

CLI_COMMAND = {"jobs": ("jobs", "list"), "job": ("jobs", "show")}
"""Methods whose command sits in a group."""
CLI_WITHOUT = {"batch": "scores of a batch are written by `score --output`"}
CLI_SPELLS = {
    # `url` is only there to refuse it with a message saying to register a source.
    "ingest": {
        "path": {"source"},
        "source": {"source"},
        "url": set(),
        "table": {"source"},
        "query": {"source"},
        "pool": {"source"},
    },
    "train": {"param": {"params"}},
    # --html FILE writes the page format=html answers (and the table is printed all the same); --png DIR
    # writes the pictures of the plot routes, which are the report drawn rather than fields of it.
    "report": {"model": MODEL_REF, "html": {"format"}, "png": set()},
    "persist": {"model": MODEL_REF},
    # A file is sent as a table (Arrow): the records or dataframe_split of a JSON body.
    "score": {"model": MODEL_REF, "file": {"records", "dataframe_split"}},
    "label": {"file": {"labels"}, "id_column": {"labels"}, "label_column": {"labels"}},
    "verify": {"html": {"format"}, "png": set()},
    "lineage": {"ref": MODEL_REF},
    "monitor": {"model": MODEL_REF},
    # `crispml models [NAME]` lists model versions (REST: /models/{name}/versions), not names.
    "models": {"name": set()},
}
"""CLI parameter -> the request fields it stands for."""
CLIENT_SPELLS = {
    "ingest": {"path": {"source"}, "source": {"source"}, "table": {"source"}, "query": {"source"}, "pool": {"source"}},
    # A table (DataFrame or pyarrow Table) is sent as an Arrow stream: the columnar form of dataframe_split.
    "score": {"table": {"dataframe_split"}},
}
CLIENT_ONLY = {"score": {"scores_as"}}
"""How an answer is delivered: `scores_as="table"` asks (by Accept) for a table's scores as an Arrow stream."""


def _request_fields(method: str) -> set[str]:
    return set(METHODS[method].request.model_fields)


def _check(method: str, params: set[str], spells: dict[str, set[str]], extra: set[str], exempt: set[str]) -> None:
    fields = _request_fields(method)
    covered = (params & fields) | {f for p in params & spells.keys() for f in spells[p]}
    unknown = params - fields - spells.keys() - extra
    missing = fields - exempt - covered
    assert not unknown, f"{method}: parameters the contract does not declare: {sorted(unknown)}"
    assert not missing, f"{method}: declared fields not offered: {sorted(missing)}"


@pytest.mark.parametrize("method", sorted(METHODS))
def test_every_method_has_a_cli_command_with_its_parameters(method: str) -> None:
    if method in CLI_WITHOUT:
        return
    command = typer.main.get_command(app)
    for part in CLI_COMMAND.get(method, (method,)):
        command = command.commands[part]  # type: ignore[attr-defined]
    params = {p.name for p in command.params if p.name}
    _check(method, params, CLI_SPELLS.get(method, {}), CLI_ONLY, DELIVERY)


@pytest.mark.parametrize("client", [Client, AsyncClient])
@pytest.mark.parametrize("method", sorted(METHODS))
def test_every_method_has_a_client_call_with_its_parameters(method: str, client: type) -> None:
    call = getattr(client, method, None)
    assert call is not None, f"{client.__name__} lacks {method}"
    params = set(inspect.signature(call).parameters) - {"self"}
    # A job method's call waits for the job unless the client was made with wait_for_jobs=False.
    exempt = {"wait", "timeout"} if METHODS[method].job else set()
    _check(method, params, CLIENT_SPELLS.get(method, {}), CLIENT_ONLY.get(method, set()), exempt)


def test_both_cli_backends_offer_the_backend_protocol_exactly() -> None:
    declared = {n: inspect.signature(f) for n, f in vars(Backend).items() if not n.startswith("_") and callable(f)}
    assert declared.keys() >= {"ingest", "prepare", "curate", "train", "report", "persist", "score", "label", "verify"}
    for implementation in (LocalBackend, RemoteBackend):
        offered = {n for n in vars(implementation) if not n.startswith("_") and callable(getattr(implementation, n))}
        assert offered == set(declared), implementation.__name__
        for name, signature in declared.items():
            mine = inspect.signature(getattr(implementation, name))
            assert list(mine.parameters) == list(signature.parameters), (implementation.__name__, name)
