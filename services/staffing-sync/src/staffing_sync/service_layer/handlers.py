"""staffing-sync's consumer: every handler, ordered per worker."""

from __future__ import annotations

from typing import Any

from staffing_sync.service_layer import reference, requests, workers
from tandem_contracts import Envelope
from tandem_messaging import Router

__all__ = ["QUEUE", "SERVICE", "lane_of", "router"]

SERVICE = "staffing-sync"
QUEUE = "staffing-sync.hire-to-deploy"


def lane_of(envelope: Envelope[Any]) -> str:
    """A worker's events in arrival order: hires, changes, cost rates and terminations all
    name the worker as their subject (a project's, a rate card's and a request's, theirs)."""
    return envelope.subject.id


def router() -> Router:
    """The consumer's router, its handlers not yet bound to their dependencies.

    ``accept_stale``: the inbox keeps one version per subject, whatever the event type, and a
    cost rate's version is the HRIS's cost-rate record version, not the worker's; so every
    handler weighs versions itself (workers against the newest applied, cost rates per date),
    and an older version changes nothing; duplicates are still dropped by the inbox.
    """
    router = Router(service=SERVICE, lane_key=lane_of, accept_stale=True)
    return router.include(workers.handlers, reference.handlers, requests.handlers)
