"""The permission table names every route of the app: a route it does not name would be refused."""

from __future__ import annotations

from fastapi.routing import APIRoute
from starlette.routing import Route

from crispml.api.app import create_app
from crispml.identity import Role
from crispml.permissions import GRANTS, ROUTE_ACTIONS, Action, allows


def route_names() -> set[str]:
    app = create_app()
    names = {route.name for route in app.router.routes if isinstance(route, APIRoute | Route)}
    paths = app.openapi()["paths"]
    names |= {operation["operationId"] for methods in paths.values() for operation in methods.values()}
    return names


def test_every_route_has_an_action() -> None:
    names = route_names()
    assert names - ROUTE_ACTIONS.keys() == set()
    assert {"score", "train", "persist", "delete_alias", "healthz", "openapi"} <= names


def test_every_action_is_granted_and_only_admins_move_aliases() -> None:
    assert set(GRANTS) == set(Action)
    assert [role for role in Role if allows(role, Action.MODEL_ALIAS)] == [Role.ADMIN]
    assert not allows(Role.SCORER, Action.DATA_READ)
    assert all(allows(role, Action.PUBLIC) for role in Role)


def test_the_openapi_document_says_which_operations_need_a_key() -> None:
    schema = create_app().openapi()
    assert schema["components"]["securitySchemes"]["apiKey"] == {
        "type": "http", "scheme": "bearer", "description": "An API key from `crispml users create`."
    }  # fmt: skip
    secured = {op["operationId"]: "security" in op for methods in schema["paths"].values() for op in methods.values()}
    assert secured["score"] and secured["persist"] and secured["audit"]
    assert not secured["healthz"] and not secured["readyz"]
    assert all(
        secured[name] == (action is not Action.PUBLIC) for name, action in ROUTE_ACTIONS.items() if name in secured
    )
