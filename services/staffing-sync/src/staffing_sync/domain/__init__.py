"""staffing-sync's rules: pure, with no I/O (DOMAIN.md §2.2, §2.4, §4.1, §4.5, §4.7, §7.5).

Staffing options: a candidate's availability over a request's dates (``availability``), how
well they fit, factor by factor (``factors``), the tenant's weights and settings (``policy``),
the ranking with its reasons (``options``) and its canonical event (``proposal``).

Workers: what an HRIS version of a worker means (``workers``), a worker's dated cost rates
(``cost_rates``) and what of a worker may leave its residency region (``residency``).
"""

from staffing_sync.domain.availability import (
    DEFAULT_SOFT_BOOKING_PCT,
    LIVE_STATUSES,
    Availability,
    Booking,
    DayAvailability,
    TimeOff,
    WorkCalendar,
    availability_of,
    booking_of,
)
from staffing_sync.domain.cost_rates import CostRateSeries, MergeOutcome, RateChange
from staffing_sync.domain.factors import Factor, FactorScore, cost_rate_on
from staffing_sync.domain.options import (
    Candidate,
    Demand,
    Exclusion,
    ExclusionCode,
    Option,
    Ranking,
    StaffingWarning,
    rank_options,
)
from staffing_sync.domain.policy import DEFAULT_WEIGHTS, StaffingPolicy, Weights
from staffing_sync.domain.proposal import options_proposed, staffing_option
from staffing_sync.domain.residency import (
    PERSONAL_FIELDS,
    PORTABLE_FIELDS,
    PersonalData,
    WorkerPayload,
    releasable,
    worker_payload,
)
from staffing_sync.domain.workers import (
    FIELD_CONSUMERS,
    EndedEmployment,
    UnknownWorkerStatusError,
    WorkerChange,
    WorkerDecision,
    WorkerVersion,
    apply_version,
    classify_version,
    consumers_of,
    worker_status,
)

__all__ = [
    "DEFAULT_SOFT_BOOKING_PCT",
    "DEFAULT_WEIGHTS",
    "FIELD_CONSUMERS",
    "LIVE_STATUSES",
    "PERSONAL_FIELDS",
    "PORTABLE_FIELDS",
    "Availability",
    "Booking",
    "Candidate",
    "CostRateSeries",
    "DayAvailability",
    "Demand",
    "EndedEmployment",
    "Exclusion",
    "ExclusionCode",
    "Factor",
    "FactorScore",
    "MergeOutcome",
    "Option",
    "PersonalData",
    "Ranking",
    "RateChange",
    "StaffingPolicy",
    "StaffingWarning",
    "TimeOff",
    "UnknownWorkerStatusError",
    "Weights",
    "WorkCalendar",
    "WorkerChange",
    "WorkerDecision",
    "WorkerPayload",
    "WorkerVersion",
    "apply_version",
    "availability_of",
    "booking_of",
    "classify_version",
    "consumers_of",
    "cost_rate_on",
    "options_proposed",
    "rank_options",
    "releasable",
    "staffing_option",
    "worker_payload",
    "worker_status",
]
