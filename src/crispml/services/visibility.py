"""Object-level visibility: which projects the acting principal may see and write.

Reads are filtered where they happen: every unit of work's repositories see only the acting
principal's projects (`crispml.storage.unit_of_work`), so a dataset, model, alias, batch or lineage
outside them is NotFound, never Forbidden (its existence is not told). What is read once and kept
in memory across principals (resolved model references) is checked here; jobs are their submitter's.
"""

from __future__ import annotations

from crispml.domain.refs import check_name
from crispml.errors import Forbidden
from crispml.identity import Role, acting

DEFAULT_PROJECT = "default"


def visible(project: str) -> bool:
    """Whether the acting principal may see an object of `project` (no principal: the local admin)."""
    principal = acting()
    return principal is None or principal.projects is None or project in principal.projects


def writable_project(project: str | None) -> str:
    """The project a new dataset goes into: `project`, else the key's only project, else 'default';
    Forbidden if the acting key may not see it."""
    principal = acting()
    scoped = None if principal is None else principal.projects
    if project is None:
        project = next(iter(scoped)) if scoped is not None and len(scoped) == 1 else DEFAULT_PROJECT
    check_name(project, "project")
    if not visible(project):
        raise Forbidden(f"this key may not write into project {project!r}", field="project")
    return project


def sees_all_jobs() -> bool:
    """Admins (and the local user) see every job; anyone else only the jobs they submitted."""
    principal = acting()
    return principal is None or principal.role is Role.ADMIN
