"""Writes for tasks, labels, dependencies and comments, one module each.

- ``tasks``: create, update (PATCH semantics), assign, move, delete, restore;
- ``dependencies``: "blocked by" links, with the cycle check;
- ``comments``: comments with ``@[<user id>]`` mentions;
- ``labels``: organization-wide labels;
- ``tree`` (subtasks: parent checks, moves), ``ordering`` (manual order),
  ``rules`` (who may do what, lookups of ids in a request body) and
  ``activity`` (activity rows, events and their audience): shared by the
  modules above. Their ``_``-prefixed names are private to this package.

Every public function here is one transaction: it checks everything first,
then writes, records ``TaskActivity`` rows with the exact changes
(``{field: [old, new]}``, JSON-safe values) and queues its domain events with
``send_event_on_commit`` (sent only if the transaction commits). A refused
operation raises before the first write, and the surrounding transaction is
rolled back anyway, so nothing is ever half-written.

Who may do what (the organization role table is in
apps/organizations/README.md; details in apps/tasks/README.md):

- viewers read only;
- members create tasks in projects they can see that are not archived, edit
  tasks they reported or are assigned to, delete/restore tasks they reported,
  comment on tasks they can see, edit their own comments;
- managers and above do anything with tasks and labels, and may force the
  completion of a task whose blockers are still open;
- admins and above may delete anyone's comment.

Callers fetch tasks with ``selectors.task_get_for_member`` first, so a task
passed in here is already known to be visible to the actor.
"""
