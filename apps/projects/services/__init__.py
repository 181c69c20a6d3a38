"""Writes for clients, projects, project members, milestones and dependencies,
one module each (``clients``, ``projects``, ``members``, ``milestones``,
``dependencies``; ``events`` and ``checks`` hold what they share).

Every function is one transaction: it checks what the database cannot hold
(or should not be the one to refuse: a failed CHECK or unique index surfaces
as an ``IntegrityError``, i.e. a 500), writes, and queues one realtime event
for after the commit. A refused call raises :class:`ApplicationError` (400
with ``fields``) or :class:`ConflictError` (409) and writes nothing.

Users are referred to by ``user_id`` (they live in the public schema). The
organization a user must belong to is the one whose schema the connection
is on: deriving it from the connection (rather than taking it as an argument)
means the check can never be made against another organization than the one
being written to.

Events (``type`` / ``op``), data without rates (the audience is wider than
those who may see rates):

- ``client``: created, updated, deleted, restored
- ``project``: created, updated, deleted, restored
- ``project.member``: created, updated, deleted
- ``project.milestone``: created, updated, deleted
- ``project.dependency``: created, deleted

Events about a private project go only to its members and to the roles that
see every project; everything else goes to the whole organization.

The public names are re-exported here.
"""

from .clients import (
    CLIENT_FIELDS,
    client_create,
    client_delete,
    client_restore,
    client_update,
)
from .dependencies import (
    project_dependency_create,
    project_dependency_delete,
)
from .events import (
    EVENT_CLIENT,
    EVENT_DEPENDENCY,
    EVENT_MILESTONE,
    EVENT_PROJECT,
    EVENT_PROJECT_MEMBER,
)
from .members import (
    PROJECT_MEMBER_FIELDS,
    project_member_add,
    project_member_remove,
    project_member_update,
)
from .milestones import (
    milestone_create,
    milestone_delete,
    milestone_update,
)
from .projects import (
    PROJECT_FIELDS,
    project_create,
    project_delete,
    project_restore,
    project_update,
)

__all__ = [
    "CLIENT_FIELDS",
    "EVENT_CLIENT",
    "EVENT_DEPENDENCY",
    "EVENT_MILESTONE",
    "EVENT_PROJECT",
    "EVENT_PROJECT_MEMBER",
    "PROJECT_FIELDS",
    "PROJECT_MEMBER_FIELDS",
    "client_create",
    "client_delete",
    "client_restore",
    "client_update",
    "milestone_create",
    "milestone_delete",
    "milestone_update",
    "project_create",
    "project_delete",
    "project_dependency_create",
    "project_dependency_delete",
    "project_member_add",
    "project_member_remove",
    "project_member_update",
    "project_restore",
    "project_update",
]
