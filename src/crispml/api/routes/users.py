"""Who a key is (`/api/v1/me`, any role: the console's header and what it shows) and the API users
(admins). Users are created, revoked and rotated with `crispml users` on the server's machine."""

from __future__ import annotations

from fastapi import APIRouter

import crispml
from crispml.api.deps import AccessDep, SettingsDep
from crispml.api.problems import problem_responses
from crispml.contract.answers import Page, PrincipalAnswer, UserAnswer
from crispml.identity import Role, acting
from crispml.permissions import GRANTS

router = APIRouter(prefix="/api/v1", tags=["users"])


@router.get("/me", summary="The principal this request acts as, and the actions its role may do")
async def me(settings: SettingsDep) -> PrincipalAnswer:
    principal = acting()
    # Without keys every request acts as the server's user with the admin role.
    name, role = (settings.user, Role.ADMIN) if principal is None else (principal.name, principal.role)
    projects = None if principal is None or principal.projects is None else sorted(principal.projects)
    allowed = [action.value for action, roles in GRANTS.items() if role in roles]
    return PrincipalAnswer(name=name, role=role.value, projects=projects, keys_required=settings.require_keys,
                           allowed=allowed, version=crispml.__version__, environment=settings.environment)  # fmt: skip


@router.get("/users", summary="API users with their roles, projects and status (never their keys)",
            responses=problem_responses(422))  # fmt: skip
def users(access: AccessDep) -> Page[UserAnswer]:
    found = [UserAnswer.from_domain(user) for user in access.list_users()]
    return Page[UserAnswer].of(found, len(found))
