"""Ports: what Tandem's services may ask of each kind of system of record, in canonical terms.

Services depend on these abstract classes only; ``bootstrap`` picks the adapter (Tryton, the
REST systems, or an in-memory fake from ``tandem_connectors.fakes``). Every write carries an
**idempotency key**: the same key twice leaves one record and answers the same external id,
with ``created`` false the second time. Adapters never store cross-references themselves: they
are given the external ids a write depends on and answer the external ids they wrote, which the
calling service records in ``tandem_connectors.xref`` in its own transaction.

Every method raises only ``tandem_connectors.errors`` types: ``SystemUnavailable`` (retry
later; the runtime pauses and probes), ``RequestRejected`` and its subclasses ``NotFound`` and
``PeriodClosed`` (park for a person), ``UnexpectedResponse`` (retried, then parked).
"""

from tandem_connectors.ports._common import Written
from tandem_connectors.ports._crm import (
    AbstractCrm,
    CrmAccount,
    CrmOpportunity,
    CrmOpportunityLine,
)
from tandem_connectors.ports._erp import (
    AbstractErp,
    CustomerInvoice,
    ErpInvoice,
    ErpObject,
    ErpTimeLine,
    ExpensePosting,
    ExpenseReversal,
    InvoiceDraft,
    InvoiceLineRequest,
    PostedInvoice,
    ProjectActivity,
    TaxTreatment,
    TimePosting,
    TimeReversal,
)
from tandem_connectors.ports._hris import AbstractHris, HrisCostRate, HrisWorker
from tandem_connectors.ports._psa import (
    AbstractPsa,
    PsaAssignment,
    PsaChangeOrder,
    PsaExpense,
    PsaProject,
    PsaProjectActivity,
    PsaResource,
    PsaResourceRequest,
    PsaTask,
    PsaTimeEntry,
    PsaTimesheet,
)

__all__ = [
    "AbstractCrm",
    "AbstractErp",
    "AbstractHris",
    "AbstractPsa",
    "CrmAccount",
    "CrmOpportunity",
    "CrmOpportunityLine",
    "CustomerInvoice",
    "ErpInvoice",
    "ErpObject",
    "ErpTimeLine",
    "ExpensePosting",
    "ExpenseReversal",
    "HrisCostRate",
    "HrisWorker",
    "InvoiceDraft",
    "InvoiceLineRequest",
    "PostedInvoice",
    "ProjectActivity",
    "PsaAssignment",
    "PsaChangeOrder",
    "PsaExpense",
    "PsaProject",
    "PsaProjectActivity",
    "PsaResource",
    "PsaResourceRequest",
    "PsaTask",
    "PsaTimeEntry",
    "PsaTimesheet",
    "TaxTreatment",
    "TimePosting",
    "TimeReversal",
    "Written",
]
