"""billing-readiness's consumer: every handler, ordered per project."""

from __future__ import annotations

from typing import Any

from billing_readiness.service_layer import charging, invoicing, reference
from tandem_contracts import Envelope
from tandem_messaging import Router

__all__ = ["QUEUE", "SERVICE", "lane_of", "router"]

SERVICE = "billing-readiness"
QUEUE = "billing-readiness.charges"


def lane_of(envelope: Envelope[Any]) -> str:
    """A project's events in arrival order (its time, expenses, milestones, terms and
    invoices); a customer's and a contract's by their own subject."""
    project_id = getattr(envelope.payload, "project_id", None)
    if isinstance(project_id, str):
        return project_id
    project = getattr(envelope.payload, "project", None)
    if project is not None:
        return str(project.id)
    milestone = getattr(envelope.payload, "milestone", None)
    if milestone is not None:
        return str(milestone.project_id)
    return envelope.subject.id


def router() -> Router:
    """The consumer's router, its handlers not yet bound to their dependencies.

    ``accept_stale``: a time entry's posting and its reversal share a subject, and a
    customer's, contract's or project's versions are weighed by the handlers that keep them
    (an older one changes nothing); duplicates are still dropped by the inbox.
    """
    router = Router(service=SERVICE, lane_key=lane_of, accept_stale=True)
    return router.include(reference.handlers, charging.handlers, invoicing.handlers)
