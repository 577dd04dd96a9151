"""Assignments: who may book time to a project, and when (the billing-code check "for this
worker").

The staffing side confirms and cancels assignments (``AssignmentConfirmed``,
``AssignmentCancelled``, subject: the assignment); each is kept in
``project_sync.project_assignments`` with its version. The consumer's inbox hands older
versions on (``accept_stale``), so the repository keeps a version only over an older one: a
confirmation delivered after its cancellation changes nothing. A placeholder's assignment (no
worker) is not kept: nobody books time as a placeholder.
"""

from __future__ import annotations

import logging
from typing import Any

from project_sync.service_layer.unit_of_work import AbstractUnitOfWork
from tandem_contracts import Envelope
from tandem_contracts.entities import AssignmentStatus
from tandem_contracts.events import AssignmentCancelled, AssignmentConfirmed
from tandem_messaging import HandlerContext, Router

__all__ = ["handlers"]

logger = logging.getLogger(__name__)

handlers = Router()


@handlers.handles(AssignmentConfirmed)
async def keep_assignment(
    envelope: Envelope[AssignmentConfirmed], ctx: HandlerContext[Any], uow: AbstractUnitOfWork
) -> None:
    """Let the assigned worker book time to the project over the assignment's dates."""
    assignment = envelope.payload.assignment
    if assignment.worker_id is None:
        logger.debug("assignment %s names no worker (a placeholder): not kept", assignment.id)
        return
    if assignment.status is AssignmentStatus.CANCELLED:
        await uow.assignments.cancel(assignment.id, assignment.project_id, envelope.subject_version)
        return
    await uow.assignments.confirm(assignment, envelope.subject_version)


@handlers.handles(AssignmentCancelled)
async def cancel_assignment(
    envelope: Envelope[AssignmentCancelled], ctx: HandlerContext[Any], uow: AbstractUnitOfWork
) -> None:
    """Stop the worker booking time to the project under the cancelled assignment."""
    event = envelope.payload
    await uow.assignments.cancel(event.assignment_id, event.project_id, envelope.subject_version)
