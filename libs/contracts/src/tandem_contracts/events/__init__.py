"""Event catalogue v1 (DOMAIN.md §3) and ``CATALOGUE``, the registry every service decodes with.

To change an event incompatibly, keep the old class under a versioned name, add the new one
with ``schema_version`` one higher, and register it with an upcaster from the old one.
"""

from tandem_contracts._catalogue import Catalogue
from tandem_contracts._event import Context, Event
from tandem_contracts.events.billing import (
    ChargeCreated,
    InvoicePosted,
    InvoiceReady,
    RateCardPublished,
)
from tandem_contracts.events.crm import (
    OpportunityCommitted,
    OpportunityLost,
)
from tandem_contracts.events.ops import (
    BreachDirection,
    MessageParked,
    MismatchKind,
    ReconciliationMismatch,
    UtilizationThresholdBreached,
)
from tandem_contracts.events.people import (
    AssignmentCancelled,
    AssignmentConfirmed,
    ConsultantOnboarded,
    CostRateChanged,
    ResourceRequested,
    StaffingOption,
    StaffingOptionsProposed,
    WorkerUpdated,
)
from tandem_contracts.events.project import (
    MilestoneCompleted,
    ProjectActivated,
    ProjectClosedForTime,
    ProjectShellCreated,
    SOWApproved,
)
from tandem_contracts.events.time_expense import (
    ExpenseApproved,
    ExpensePosted,
    ExpenseRejected,
    PeriodClosed,
    PeriodReopened,
    PostingFailureReason,
    TimeAdjusted,
    TimeApproved,
    TimePosted,
    TimePostingFailed,
    TimeRejected,
    TimeSubmitted,
)

CATALOGUE = Catalogue()
"""Every event version Tandem may put on the wire."""

for _model in (
    OpportunityCommitted,
    OpportunityLost,
    ProjectShellCreated,
    SOWApproved,
    ProjectActivated,
    ProjectClosedForTime,
    MilestoneCompleted,
    ConsultantOnboarded,
    WorkerUpdated,
    CostRateChanged,
    ResourceRequested,
    StaffingOptionsProposed,
    AssignmentConfirmed,
    AssignmentCancelled,
    RateCardPublished,
    TimeSubmitted,
    TimeApproved,
    TimeRejected,
    TimeAdjusted,
    TimePosted,
    TimePostingFailed,
    ExpenseApproved,
    ExpensePosted,
    ExpenseRejected,
    PeriodClosed,
    PeriodReopened,
    ChargeCreated,
    InvoiceReady,
    InvoicePosted,
    UtilizationThresholdBreached,
    ReconciliationMismatch,
    MessageParked,
):
    CATALOGUE.register(_model)

__all__ = [
    "CATALOGUE",
    "AssignmentCancelled",
    "AssignmentConfirmed",
    "BreachDirection",
    "Catalogue",
    "ChargeCreated",
    "ConsultantOnboarded",
    "Context",
    "CostRateChanged",
    "Event",
    "ExpenseApproved",
    "ExpensePosted",
    "ExpenseRejected",
    "InvoicePosted",
    "InvoiceReady",
    "MessageParked",
    "MilestoneCompleted",
    "MismatchKind",
    "OpportunityCommitted",
    "OpportunityLost",
    "PeriodClosed",
    "PeriodReopened",
    "PostingFailureReason",
    "ProjectActivated",
    "ProjectClosedForTime",
    "ProjectShellCreated",
    "RateCardPublished",
    "ReconciliationMismatch",
    "ResourceRequested",
    "SOWApproved",
    "StaffingOption",
    "StaffingOptionsProposed",
    "TimeAdjusted",
    "TimeApproved",
    "TimePosted",
    "TimePostingFailed",
    "TimeRejected",
    "TimeSubmitted",
    "UtilizationThresholdBreached",
    "WorkerUpdated",
]
