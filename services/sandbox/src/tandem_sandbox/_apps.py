"""The FastAPI app of each system: its resources, change feed and webhook subscriptions."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from fastapi import APIRouter, FastAPI

from tandem_sandbox._control import control_router
from tandem_sandbox._crm import crm_routers
from tandem_sandbox._erp import erp_master_routers
from tandem_sandbox._erp_actions import erp_posting_routers
from tandem_sandbox._erp_invoices import erp_invoice_routers
from tandem_sandbox._erp_projects import erp_project_router
from tandem_sandbox._feed import feed_router
from tandem_sandbox._hris import hris_routers
from tandem_sandbox._http import build_app
from tandem_sandbox._psa import psa_routers
from tandem_sandbox._psa_time import psa_time_routers
from tandem_sandbox._state import AppState
from tandem_sandbox._subscriptions import subscriptions_router

if TYPE_CHECKING:
    from tandem_sandbox._sandbox import Sandbox

__all__ = ["SYSTEM_APPS", "control_app"]

_TITLES = {
    "crm": "Sandbox CRM (Salesforce-like)",
    "psa": "Sandbox PSA (Kantata-like)",
    "hris": "Sandbox HRIS (Workday-like)",
    "erp": "Sandbox ERP (NetSuite-like)",
}
_ROUTERS: dict[str, Callable[[], list[APIRouter]]] = {
    "crm": crm_routers,
    "psa": lambda: [*psa_routers(), *psa_time_routers()],
    "hris": hris_routers,
    "erp": lambda: [
        *erp_master_routers(),
        erp_project_router(),
        *erp_posting_routers(),
        *erp_invoice_routers(),
    ],
}


def _system_app(state: AppState) -> FastAPI:
    routers = [
        *_ROUTERS[state.system](),
        feed_router(state.system),
        subscriptions_router(state.system),
    ]
    return build_app(_TITLES[state.system], routers, state.faults, state)


SYSTEM_APPS: dict[str, Callable[[AppState], FastAPI]] = dict.fromkeys(_TITLES, _system_app)


def control_app(sandbox: Sandbox) -> FastAPI:
    """Return the control API's app (no faults: it must answer during an outage)."""
    return build_app("Sandbox control", [control_router()], None, sandbox)
