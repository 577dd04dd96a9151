"""project-sync's consumer: every handler, ordered per opportunity (customers per customer)."""

from __future__ import annotations

from typing import Any

from project_sync.service_layer import assignments, customers, sagas
from tandem_contracts import Envelope
from tandem_contracts.events import SOWApproved
from tandem_messaging import Router

__all__ = ["QUEUE", "SERVICE", "lane_of", "router"]

SERVICE = "project-sync"
QUEUE = "project-sync.quote-to-cash"


def lane_of(envelope: Envelope[Any]) -> str:
    """An opportunity's signals and its contracts in arrival order (others by their subject).

    A saga is also moved from other lanes (a customer's release, the API, jobs): its row is
    locked per opportunity for the transaction that decides it (``SqlSagas.latest``).
    """
    payload = envelope.payload
    if isinstance(payload, SOWApproved) and payload.contract.opportunity_id is not None:
        return payload.contract.opportunity_id
    return envelope.subject.id


def router() -> Router:
    """The consumer's router, its handlers not yet bound to their dependencies.

    ``accept_stale``: the inbox keeps one version per subject, whatever the event type, and
    ``CustomerLinked`` carries the version of the ``AccountUpserted`` it answers (so would be
    dropped as stale after it). Every handler here weighs versions itself — the saga compares
    the opportunity's and the contract's versions, customers and rate cards keep their latest —
    and assignments keep a version only over an older one — so an older version changes
    nothing; duplicates are still dropped by the inbox.
    """
    return Router(service=SERVICE, lane_key=lane_of, accept_stale=True).include(
        customers.handlers, sagas.handlers, assignments.handlers
    )
