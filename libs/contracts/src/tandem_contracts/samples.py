"""Deterministic example envelopes, one per catalogue event: for docs, demos and tests.

The data is a fictional firm, Acme Consulting (tenant ``acme``), with legal entities in the US,
the UK, Germany and India. Most samples follow one quote-to-cash thread under one correlation
id: Globex's opportunity is won, its project is created, staffed and activated, time is
approved and posted, becomes a charge and then an invoice. Event ids are UUIDv7 values built
from each event's ``occurred_at``, so every call returns equal envelopes.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from tandem_contracts import Envelope, Event, ExternalRef, Money, Producer, SystemKind
from tandem_contracts import entities as ent
from tandem_contracts import events as ev

__all__ = ["sample_envelopes"]

TENANT = "acme"
LE_US, LE_UK, LE_DE, LE_IN = "le-us", "le-uk", "le-de", "le-in"
_REGIONS = {LE_US: "us", LE_UK: "uk", LE_DE: "eu", LE_IN: "apac"}
# ERP instances are per legal entity (tryton-us, tryton-uk, tryton-de, tryton-in).
_INSTANCES = {
    SystemKind.CRM: "salesforce-acme",
    SystemKind.PSA: "kantata-acme",
    SystemKind.RM: "kantata-acme",
    SystemKind.HRIS: "workday-acme",
}

Q2C = "q2c-opp-0107"  # correlation id of the Globex quote-to-cash thread
CUSTOMER = "cus-globex"
OPPORTUNITY = "opp-0107"
CONTRACT = "ctr-0107"
PROJECT = "prj-0001"  # Globex, US
PROJECT_DE = "prj-0002"  # Initech GmbH, Germany
OPPORTUNITY_DE = "opp-0118"  # Initech GmbH: committed, then reopened
PROJECT_DE_SHELL = "prj-0003"  # its shell, cancelled before any time was logged
WORK_ITEM = "wi-0101"
RATE_CARD = "rc-globex-2026"
ROLE_SC = "role-senior-consultant"
ROLE_EM = "role-engagement-manager"
WORKER = "wrk-0042"  # US senior consultant on the Globex project
WORKER_PM = "wrk-0007"  # US engagement manager: approves time and expenses
WORKER_UK = "wrk-0077"
WORKER_IN = "wrk-0108"  # a new hire in India
RESOURCE, RESOURCE_UK = "res-0042", "res-0077"
REQUEST = "rr-0031"
ASSIGNMENT, ASSIGNMENT_HOLD = "asg-0055", "asg-0056"
TIMESHEET = "ts-0042-2026-10-26"
EXPENSE = "exp-0311"
CHARGE = "chg-1001"
INVOICE = "inv-2001"
CHARGE_HELD = "chg-1002"
CREDIT_NOTE = "inv-2002"
PO_NUMBER = "PO-77120"

_SC_RATE = Money.of("185.00", "USD")
_SC_COST = Money.of("72.50", "USD")
_EM_RATE = Money.of("240.00", "USD")
_RATE_SOURCE = ent.RateSource(
    rate_card_id=RATE_CARD, rate_card_version=2, scope_level="account", role_id=ROLE_SC
)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# The week of 2026-10-26 on WORKER's timesheet: entry id, day of October, minutes, notes.
_WEEK = (
    ("te-0901", 26, 480, "Close process walkthrough with the Globex controller"),
    ("te-0902", 27, 450, "Chart of accounts mapping workshop"),
    ("te-0903", 28, 90, "Internal proposal review"),
    ("te-0904", 29, 480, "Intercompany reconciliation design"),
)
# The TimeApproved of te-0904 that time-expense parked; it is not itself among the samples.
_PARKED_EVENT_ID = "01a19c91-23c0-7000-8000-000000000904"


def _at(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


def _event_id(at: datetime, seq: int) -> uuid.UUID:
    """A UUIDv7 whose timestamp is ``at`` and whose random bits are ``seq``."""
    ms = (at - _EPOCH) // timedelta(milliseconds=1)
    return uuid.UUID(int=ms << 80 | 0x7 << 76 | 0x2 << 62 | seq)


def _ref(system: SystemKind, instance: str, object_type: str, external_id: str) -> ExternalRef:
    return ExternalRef(
        system=system, instance=instance, object_type=object_type, external_id=external_id
    )


class _Builder:
    """Collects envelopes, giving each a fixed event id from its time and position."""

    def __init__(self) -> None:
        self.envelopes: list[Envelope[Any]] = []

    def add(
        self,
        payload: Event,
        at: datetime,
        version: int,
        *,
        le: str = LE_US,
        cause: Envelope[Any] | None = None,
        correlation: str = Q2C,
        service: str | None = None,
    ) -> Envelope[Any]:
        """Wrap ``payload`` published at ``at`` by its first listed producer (or ``service``)."""
        kind = type(payload)
        system = kind.system_of_record
        erp = f"tryton-{le.removeprefix('le-')}"
        instance = None if system is None else _INSTANCES.get(system, erp)
        envelope: Envelope[Any] = Envelope.new(
            payload,
            producer=Producer(
                service=service or kind.producers[0], system=system, instance=instance
            ),
            tenant_id=TENANT,
            legal_entity_id=le,
            data_residency_region=_REGIONS[le],
            correlation_id=correlation,
            causation_id=None if cause is None else str(cause.event_id),
            subject_version=version,
            occurred_at=at,
        )
        event_id = _event_id(at, len(self.envelopes) + 1)
        envelope = envelope.model_copy(update={"event_id": event_id})
        self.envelopes.append(envelope)
        return envelope


def _opportunity() -> ent.Opportunity:
    sc = ent.OpportunityLine(
        role_id=ROLE_SC, minutes=400 * 60, rate=_SC_RATE, amount=_SC_RATE.times(400)
    )
    em = ent.OpportunityLine(
        role_id=ROLE_EM, minutes=80 * 60, rate=_EM_RATE, amount=_EM_RATE.times(80)
    )
    return ent.Opportunity(
        id=OPPORTUNITY,
        customer_id=CUSTOMER,
        selling_legal_entity_id=LE_US,
        name="Globex finance transformation, phase 1",
        stage="Closed Won",
        status=ent.OpportunityStatus.COMMITTED,
        amount=sc.amount + em.amount,
        close_date=date(2026, 9, 30),
        probability_pct=100,
        owner_id=WORKER_PM,
        expected_start=date(2026, 10, 5),
        lines=(sc, em),
        refs=(_ref(SystemKind.CRM, "salesforce-acme", "Opportunity", "0065g00000XyZ12AAB"),),
    )


def _customer() -> ent.Customer:
    return ent.Customer(
        id=CUSTOMER,
        name="Globex Corporation",
        legal_entity_id=LE_US,
        country="US",
        currency="USD",
        tax_profile=ent.TaxProfile(country="US", subdivision="NY"),
        payment_terms_days=30,
        billing_address="Globex Corporation, Accounts Payable, 200 Park Avenue, New York, NY 10166",
        status=ent.CustomerStatus.ACTIVE,
        source_status="Customer - Direct",
        refs=(_ref(SystemKind.CRM, "salesforce-acme", "Account", "0015g00000GlbX01AAB"),),
    )


def _contract() -> ent.Contract:
    return ent.Contract(
        id=CONTRACT,
        number="SOW-2026-0107",
        customer_id=CUSTOMER,
        selling_legal_entity_id=LE_US,
        opportunity_id=OPPORTUNITY,
        po_number=PO_NUMBER,
        billing_model=ent.BillingModel.CAPPED_TM,
        total_value=Money.of("93200.00", "USD"),
        cap=Money.of("100000.00", "USD"),
        start_date=date(2026, 10, 5),
        end_date=date(2026, 12, 18),
        rate_card_id=RATE_CARD,
        status=ent.ContractStatus.APPROVED,
        refs=(_ref(SystemKind.ERP, "tryton-us", "sale.contract", "311"),),
    )


def _project(status: ent.ProjectStatus) -> ent.Project:
    active = status is ent.ProjectStatus.ACTIVE
    refs: tuple[ExternalRef, ...] = (_ref(SystemKind.ERP, "tryton-us", "project.work", "1207"),)
    if active:
        refs += (_ref(SystemKind.PSA, "kantata-acme", "workspace", "4417"),)
    return ent.Project(
        id=PROJECT,
        code="P-US-26-0107",
        name="Globex finance transformation, phase 1",
        customer_id=CUSTOMER,
        contract_id=CONTRACT if active else None,
        opportunity_id=OPPORTUNITY,
        legal_entity_id=LE_US,
        org_unit_ids=("ou-us-finance-advisory",),
        project_manager_id=WORKER_PM,
        currency="USD",
        billing_model=ent.BillingModel.CAPPED_TM,
        budget=ent.Budget(minutes=480 * 60, amount=Money.of("93200.00", "USD")),
        rate_card_id=RATE_CARD,
        start_date=date(2026, 10, 5),
        end_date=date(2026, 12, 18),
        flags=ent.ProjectFlags(time_entry_open=active, expense_entry_open=active),
        status=status,
        source_status="In Progress" if active else "opened",
        refs=refs,
    )


def _rate_card() -> ent.RateCard:
    def version(
        number: int, start: date, end: date | None, sc: str, em: str
    ) -> ent.RateCardVersion:
        return ent.RateCardVersion(
            version=number,
            effective_from=start,
            effective_to=end,
            default_rate=Money.of("150.00", "USD"),
            role_rates=(
                ent.RoleRate(role_id=ROLE_SC, bill_rate=Money.of(sc, "USD"), cost_rate=_SC_COST),
                ent.RoleRate(role_id=ROLE_EM, bill_rate=Money.of(em, "USD")),
            ),
        )

    return ent.RateCard(
        id=RATE_CARD,
        name="Globex MSA rates 2026",
        currency="USD",
        scope=ent.RateCardScope(account_id=CUSTOMER),
        versions=(
            version(1, date(2026, 1, 1), date(2026, 9, 30), "175.00", "230.00"),
            version(2, date(2026, 10, 1), None, "185.00", "240.00"),
        ),
        status=ent.RateCardStatus.PUBLISHED,
    )


def _worker(worker_id: str, legal_entity: str, manager_id: str, org_unit_id: str) -> ent.Worker:
    pre_hire = legal_entity == LE_IN
    return ent.Worker(
        id=worker_id,
        worker_number=f"W-{legal_entity.removeprefix('le-').upper()}-{worker_id[-4:]}",
        legal_entity_id=legal_entity,
        employment_type=ent.EmploymentType.EMPLOYEE,
        status=ent.WorkerStatus.PRE_HIRE if pre_hire else ent.WorkerStatus.ACTIVE,
        hire_date=date(2026, 11, 2) if pre_hire else date(2022, 3, 14),
        manager_id=manager_id,
        org_unit_id=org_unit_id,
        work_country="IN" if pre_hire else "GB",
        home_currency="INR" if pre_hire else "GBP",
        source_status="Pending Hire" if pre_hire else "Active",
        refs=(_ref(SystemKind.HRIS, "workday-acme", "Worker", f"W{worker_id[-4:]}"),),
    )


def _entry(
    entry_id: str, day: int, minutes: int, notes: str, status: ent.TimeEntryStatus
) -> ent.TimeEntry:
    rated = status is not ent.TimeEntryStatus.SUBMITTED  # rates are snapshotted on approval
    return ent.TimeEntry(
        id=entry_id,
        timesheet_id=TIMESHEET,
        worker_id=WORKER,
        worker_legal_entity_id=LE_US,
        project_id=PROJECT,
        project_legal_entity_id=LE_US,
        work_item_id=WORK_ITEM,
        assignment_id=ASSIGNMENT,
        role_id=ROLE_SC,
        work_date=date(2026, 10, day),
        duration_minutes=minutes,
        billable=True,
        notes=notes,
        bill_rate=_SC_RATE if rated else None,
        rate_source=_RATE_SOURCE if rated else None,
        cost_rate=_SC_COST if rated else None,
        status=status,
    )


def _invoice_line() -> ent.InvoiceLine:
    return ent.InvoiceLine(
        description="Senior Consultant, 2026-10-26 (8.00 h)",
        quantity=Decimal("8.00"),
        unit_price=_SC_RATE,
        amount=_SC_RATE.times(8),
        project_id=PROJECT,
        work_item_id=WORK_ITEM,
        charge_ids=(CHARGE,),
    )


def _expense(status: ent.ExpenseStatus) -> ent.Expense:
    return ent.Expense(
        id=EXPENSE,
        report_id="er-0042-2026-10",
        worker_id=WORKER,
        project_id=PROJECT,
        project_legal_entity_id=LE_US,
        category="airfare",
        expense_date=date(2026, 10, 25),
        amount=Money.of("412.60", "USD"),
        reimbursement_amount=Money.of("412.60", "USD"),
        billable=True,
        receipt_ref="receipts/2026/10/exp-0311.pdf",
        status=status,
    )


def sample_envelopes() -> list[Envelope[Any]]:
    """Return one valid envelope per catalogue event, in catalogue order; equal on every call."""
    b = _Builder()
    tes = ent.TimeEntryStatus

    # CRM and projects: Globex's account gets its ERP customer; its opportunity advances, is won
    # and becomes a project; another is lost, a third reopened.
    t = _at(9, 14, 16, 20)
    account = b.add(ev.AccountUpserted(customer=_customer(), upserted_at=t), t, 4)
    t = _at(9, 14, 16, 21)
    linked = ev.CustomerLinked(
        customer_id=CUSTOMER,
        erp_ref=_ref(SystemKind.ERP, "tryton-us", "party.party", "412"),
        crm_ref=_customer().refs[0],
        created=False,
        matched_by=ev.CustomerMatch.TAX_ID,
        linked_at=t,
    )
    b.add(linked, t, 5, cause=account)
    t = _at(9, 22, 10, 5)
    negotiating = ev.OpportunityStageChanged(
        opportunity_id=OPPORTUNITY,
        stage="Negotiation/Review",
        previous_stage="Proposal/Price Quote",
        status=ent.OpportunityStatus.OPEN,
        amount=_opportunity().amount,
        probability_pct=80,
        changed_at=t,
    )
    b.add(negotiating, t, 6)
    t = _at(10, 1, 15, 30)
    won = b.add(ev.OpportunityCommitted(opportunity=_opportunity(), committed_at=t), t, 7)
    t = _at(10, 2, 11)
    lost = ev.OpportunityLost(
        opportunity_id="opp-0112", stage="Closed Lost", reason="Kept its incumbent", lost_at=t
    )
    b.add(lost, t, 5, le=LE_UK, correlation="crm-opp-0112")
    t = _at(10, 8, 9, 40)
    reopened_opp = ev.OpportunityReopened(
        opportunity_id=OPPORTUNITY_DE,
        stage="Negotiation/Review",
        reason="Initech asked to re-scope phase 1",
        reopened_at=t,
    )
    reopening = b.add(reopened_opp, t, 9, le=LE_DE, correlation=f"q2c-{OPPORTUNITY_DE}")
    shell_created = ev.ProjectShellCreated(project=_project(ent.ProjectStatus.SHELL))
    shell = b.add(shell_created, _at(10, 1, 15, 32), 1, cause=won)
    t = _at(10, 2, 17, 5)
    b.add(ev.SOWApproved(contract=_contract(), project_ids=(PROJECT,), approved_at=t), t, 3)
    t = _at(10, 5, 13)
    activated = ev.ProjectActivated(project=_project(ent.ProjectStatus.ACTIVE), activated_at=t)
    activation = b.add(activated, t, 2, cause=shell)
    t = _at(11, 12, 15)
    change_order = ev.ChangeOrderApproved(
        project_id=PROJECT,
        change_order_id="co-0107-01",
        contract_id=CONTRACT,
        budget=ent.Budget(minutes=560 * 60, amount=Money.of("108000.00", "USD")),
        total_value=Money.of("108000.00", "USD"),
        cap=Money.of("115000.00", "USD"),
        description="Adds the intercompany close workstream: 80 senior consultant hours",
        effective_from=date(2026, 11, 16),
        approved_at=t,
    )
    b.add(change_order, t, 3, cause=activation)
    t = _at(11, 27, 16)
    closed = ev.ProjectClosedForTime(
        project_id=PROJECT_DE, closed_from=date(2026, 11, 28), reason="Delivered", closed_at=t
    )
    b.add(closed, t, 9, le=LE_DE, correlation="close-prj-0002")
    # Compensations: the reopened Initech shell had no time and is cancelled; a UK project lost
    # after time was logged is closed for time and kept for finance.
    t = _at(10, 8, 9, 42)
    cancelled = ev.ProjectCancelled(
        project_id=PROJECT_DE_SHELL,
        opportunity_id=OPPORTUNITY_DE,
        reason="Opportunity reopened after commit; the shell had no time and no charges",
        refs=(
            _ref(SystemKind.ERP, "tryton-de", "project.work", "388"),
            _ref(SystemKind.PSA, "kantata-acme", "workspace", "4452"),
        ),
        cancelled_at=t,
    )
    b.add(cancelled, t, 2, le=LE_DE, cause=reopening, correlation=f"q2c-{OPPORTUNITY_DE}")
    t = _at(11, 10, 12, 15)
    flagged = ev.ProjectFlaggedForFinance(
        project_id="prj-0005",
        opportunity_id="opp-0121",
        reason=ev.FinanceFlagReason.LOST_AFTER_TIME_LOGGED,
        detail="Opportunity lost with 2,880 minutes of approved time and 3 charges logged; "
        "closed for time from 2026-11-11",
        flagged_at=t,
    )
    b.add(flagged, t, 6, le=LE_UK, correlation="q2c-opp-0121")
    milestone = ent.Milestone(
        id="ms-0003",
        project_id=PROJECT_DE,
        name="Readiness report accepted",
        amount=Money.of("24000.00", "EUR"),
        billing_trigger=ent.MilestoneTrigger.ON_COMPLETION,
        actual_date=date(2026, 11, 20),
        status=ent.MilestoneStatus.COMPLETED,
    )
    t = _at(11, 20, 14)
    b.add(
        ev.MilestoneCompleted(milestone=milestone, completed_at=t),
        t,
        3,
        le=LE_DE,
        correlation="ms-0003",
    )

    # HR: a hire in India, then a UK consultant's new manager and new cost rate.
    t = _at(10, 12, 4, 30)
    cost_in = ent.CostRate(
        worker_id=WORKER_IN,
        hourly_cost=Money.of("2150.00", "INR"),
        effective_from=date(2026, 11, 2),
    )
    hire = ev.ConsultantOnboarded(
        worker=_worker(WORKER_IN, LE_IN, "wrk-0090", "ou-in-delivery"),
        primary_role_id=ROLE_SC,
        cost_rate=cost_in,
        start_date=date(2026, 11, 2),
    )
    b.add(hire, t, 1, le=LE_IN, correlation="hire-wrk-0108")
    uk = _worker(WORKER_UK, LE_UK, "wrk-0061", "ou-uk-tech-advisory")
    moved = ev.WorkerUpdated(
        worker=uk, changed_fields=("manager_id", "org_unit_id"), effective_date=date(2026, 10, 19)
    )
    b.add(moved, _at(10, 15, 9), 12, le=LE_UK, correlation="hr-wrk-0077-2026-10")
    leaving = ev.WorkerTerminated(
        worker_id=WORKER_UK, legal_entity_id=LE_UK, last_day=date(2026, 12, 31),
        terminated_at=_at(10, 16, 9),
    )  # fmt: skip
    b.add(leaving, _at(10, 16, 9), 13, le=LE_UK, correlation="hr-wrk-0077-2026-10")
    cost_uk = ent.CostRate(
        worker_id=WORKER_UK, hourly_cost=Money.of("64.00", "GBP"), effective_from=date(2026, 11, 1)
    )
    b.add(
        ev.CostRateChanged(cost_rate=cost_uk),
        _at(10, 20, 9),
        14,
        le=LE_UK,
        correlation="hr-wrk-0077-2026-10",
    )

    # Staffing: the won opportunity opens demand, which is matched and booked.
    request = ent.ResourceRequest(
        id=REQUEST,
        project_id=PROJECT,
        opportunity_id=OPPORTUNITY,
        role_id=ROLE_SC,
        required_skill_ids=("skl-erp-finance", "skl-ifrs"),
        minutes=400 * 60,
        start_date=date(2026, 10, 5),
        end_date=date(2026, 12, 18),
        proposed_rate=_SC_RATE,
        priority=2,
        status=ent.ResourceRequestStatus.READY_TO_STAFF,
    )
    requested = b.add(ev.ResourceRequested(request=request), _at(10, 1, 15, 35), 1, cause=won)
    options = (
        ev.StaffingOption(
            resource_id=RESOURCE,
            worker_id=WORKER,
            fit_score=92,
            available_minutes=400 * 60,
            proposed_rate=_SC_RATE,
            reasons=("role match", "skills 2/2", "fully available"),
        ),
        ev.StaffingOption(
            resource_id=RESOURCE_UK,
            worker_id=WORKER_UK,
            fit_score=71,
            available_minutes=240 * 60,
            proposed_rate=_SC_RATE,
            reasons=("role match", "skills 1/2", "60% available", "intercompany (le-uk)"),
        ),
    )
    t = _at(10, 1, 15, 36)
    proposed = ev.StaffingOptionsProposed(request_id=REQUEST, options=options, proposed_at=t)
    proposal = b.add(proposed, t, 2, cause=requested)
    assignment = ent.Assignment(
        id=ASSIGNMENT,
        project_id=PROJECT,
        work_item_id=WORK_ITEM,
        resource_id=RESOURCE,
        worker_id=WORKER,
        role_id=ROLE_SC,
        start_date=date(2026, 10, 5),
        end_date=date(2026, 12, 18),
        total_minutes=400 * 60,
        minutes_per_day=480,
        booking_type=ent.BookingType.HARD,
        bill_rate=_SC_RATE,
        rate_source=_RATE_SOURCE,
        cost_rate=_SC_COST,
        status=ent.AssignmentStatus.CONFIRMED,
    )
    t = _at(10, 2, 10)
    confirmed = b.add(
        ev.AssignmentConfirmed(assignment=assignment, confirmed_at=t), t, 1, cause=proposal
    )
    t = _at(10, 2, 10, 1)
    released = ev.AssignmentCancelled(
        assignment_id=ASSIGNMENT_HOLD,
        project_id=PROJECT,
        reason=f"Soft hold released: {REQUEST} staffed by {ASSIGNMENT}",
        cancelled_at=t,
    )
    b.add(released, t, 2, cause=confirmed)

    # Rates: the Globex rate card's version 2 takes effect on 2026-10-01.
    t = _at(9, 15, 12)
    published = ev.RateCardPublished(rate_card=_rate_card(), published_version=2, published_at=t)
    b.add(published, t, 2, correlation="rc-globex-2026-v2")

    # Time and expenses: a week of Globex time is submitted, approved, rejected, adjusted, posted.
    sheet = ent.Timesheet(
        id=TIMESHEET,
        worker_id=WORKER,
        period_start=date(2026, 10, 26),
        period_end=date(2026, 11, 1),
        status=ent.TimesheetStatus.SUBMITTED,
    )
    entries = tuple(_entry(*day, tes.SUBMITTED) for day in _WEEK)
    t = _at(10, 30, 21, 15)
    submitted = b.add(ev.TimeSubmitted(timesheet=sheet, entries=entries, submitted_at=t), t, 1)
    t = _at(11, 2, 14)
    approved = ev.TimeApproved(
        entry=_entry(*_WEEK[0], tes.APPROVED),
        approval_version=1,
        approved_by=WORKER_PM,
        approved_at=t,
    )
    approval = b.add(approved, t, 2, cause=submitted)
    t = _at(11, 2, 14, 1)
    rejected = ev.TimeRejected(
        time_entry_id="te-0903",
        timesheet_id=TIMESHEET,
        worker_id=WORKER,
        project_id=PROJECT,
        was_approved=False,
        reason="Internal work: book it to the Acme bid code",
        rejected_at=t,
    )
    b.add(rejected, t, 2, cause=submitted)
    t = _at(11, 4, 9, 30)
    adjusted = ev.TimeAdjusted(
        original_entry_id="te-0902",
        replacement=_entry("te-0902-a1", 27, 420, _WEEK[1][3], tes.APPROVED),
        reason="SOW-2026-0107 caps billable days at 7 hours",
        adjusted_at=t,
    )
    b.add(adjusted, t, 4)
    t = _at(11, 2, 14, 1)
    posted = ev.TimePosted(
        time_entry_id="te-0901",
        project_id=PROJECT,
        worker_id=WORKER,
        erp_ref=_ref(SystemKind.ERP, "tryton-us", "timesheet.line", "88412"),
        work_date=date(2026, 10, 26),
        accounting_date=date(2026, 10, 26),
        duration_minutes=480,
        bill_amount=_SC_RATE.times(8),
        cost_amount=_SC_COST.times(8),
        posted_at=t,
    )
    posting = b.add(posted, t, 3, cause=approval)
    t = _at(11, 2, 14, 3)
    failed = ev.TimePostingFailed(
        time_entry_id="te-0904",
        project_id=PROJECT,
        worker_id=WORKER,
        reason=ev.PostingFailureReason.ERP_UNAVAILABLE,
        message="Tryton JSON-RPC call timed out after 30 s",
        retryable=True,
        failed_at=t,
    )
    failure = b.add(failed, t, 3)
    t = _at(11, 2, 14, 5)
    expense_ok = ev.ExpenseApproved(
        expense=_expense(ent.ExpenseStatus.APPROVED), approved_by=WORKER_PM, approved_at=t
    )
    expense_approval = b.add(expense_ok, t, 2)
    t = _at(11, 2, 14, 6)
    expense_posted = ev.ExpensePosted(
        expense_id=EXPENSE,
        project_id=PROJECT,
        erp_ref=_ref(SystemKind.ERP, "tryton-us", "account.move", "4471"),
        accounting_date=date(2026, 10, 25),
        amount=Money.of("412.60", "USD"),
        posted_at=t,
    )
    expense_posting = b.add(expense_posted, t, 3, cause=expense_approval)
    # The ERP's review rejects the approved airfare afterwards; its posting is to be reversed.
    t = _at(11, 5, 16, 20)
    expense_rejected = ev.ExpenseRejected(
        expense_id=EXPENSE,
        project_id=PROJECT,
        worker_id=WORKER,
        was_approved=True,
        reason="Receipt shows a business-class fare; policy allows economy",
        rejected_at=t,
    )
    b.add(expense_rejected, t, 4, cause=expense_posting)
    period = ent.AccountingPeriod(
        id="per-de-2026-10",
        legal_entity_id=LE_DE,
        name="2026-10",
        start_date=date(2026, 10, 1),
        end_date=date(2026, 10, 31),
        status=ent.PeriodStatus.CLOSED,
        source_status="closed",
        refs=(_ref(SystemKind.ERP, "tryton-de", "account.period", "37"),),
    )
    t = _at(11, 6, 17)
    b.add(
        ev.PeriodClosed(period=period, closed_at=t),
        t,
        2,
        le=LE_DE,
        correlation="close-le-de-2026-10",
    )
    # Finance reopens it for a late supplier invoice.
    t = _at(11, 9, 8, 45)
    reopened = period.model_copy(update={"status": ent.PeriodStatus.OPEN, "source_status": "open"})
    b.add(
        ev.PeriodReopened(period=reopened, reopened_at=t),
        t,
        3,
        le=LE_DE,
        correlation="close-le-de-2026-10",
    )

    # Billing: posted time becomes a charge, the charge an invoice proposal, then an ERP invoice.
    charge = ent.Charge(
        id=CHARGE,
        project_id=PROJECT,
        contract_id=CONTRACT,
        source=ent.ChargeSource.TIME,
        source_ids=("te-0901",),
        quantity=Decimal("8.00"),
        rate=_SC_RATE,
        amount=_SC_RATE.times(8),
        bill_date=date(2026, 10, 26),
        billing_period="2026-10",
        status=ent.ChargeStatus.READY,
    )
    charged = b.add(ev.ChargeCreated(charge=charge), _at(11, 2, 14, 2), 1, cause=posting)
    ready = ev.InvoiceReady(
        invoice_id=INVOICE,
        project_id=PROJECT,
        contract_id=CONTRACT,
        customer_id=CUSTOMER,
        billing_period="2026-10",
        currency="USD",
        po_number=PO_NUMBER,
        lines=(_invoice_line(),),
        subtotal=_SC_RATE.times(8),
        charge_ids=(CHARGE,),
    )
    proposal_env = b.add(ready, _at(11, 3, 6), 1, cause=charged)
    invoice = ent.Invoice(
        id=INVOICE,
        number="INV-US-2026-000318",
        seller_legal_entity_id=LE_US,
        customer_id=CUSTOMER,
        currency="USD",
        invoice_date=date(2026, 11, 3),
        due_date=date(2026, 12, 3),
        po_number=PO_NUMBER,
        lines=(_invoice_line(),),
        subtotal=_SC_RATE.times(8),
        tax_total=Money.of("0.00", "USD"),
        total=_SC_RATE.times(8),
        status=ent.InvoiceStatus.POSTED,
        source_status="posted",
        refs=(_ref(SystemKind.ERP, "tryton-us", "account.invoice", "5120"),),
    )
    t = _at(11, 3, 10)
    invoiced = b.add(ev.InvoicePosted(invoice=invoice, posted_at=t), t, 2, cause=proposal_env)
    # A second charge of the month is held while the customer is on credit hold, then released.
    held = ev.ChargeHeld(
        charge_id=CHARGE_HELD,
        project_id=PROJECT,
        amount=_SC_RATE.times(4),
        reasons=(ev.HoldReason.CREDIT_HOLD,),
        held_at=_at(11, 2, 15),
    )
    hold = b.add(held, _at(11, 2, 15), 1, cause=posting)
    lifted = ev.ChargeReleased(
        charge_id=CHARGE_HELD,
        project_id=PROJECT,
        amount=_SC_RATE.times(4),
        released=(ev.HoldReason.CREDIT_HOLD,),
        released_by="finance-ops@acme.example",
        released_at=_at(11, 4, 9),
    )
    b.add(lifted, _at(11, 4, 9), 2, cause=hold)
    # One invoiced entry is reversed afterwards: the ERP credits its amount.
    credit_line = _invoice_line().model_copy(
        update={"quantity": Decimal("-1.00"), "amount": _SC_RATE.times(-1)}
    )
    credit_note = invoice.model_copy(
        update={
            "id": CREDIT_NOTE,
            "number": "CN-US-2026-000012",
            "invoice_date": date(2026, 11, 9),
            "lines": (credit_line,),
            "subtotal": _SC_RATE.times(-1),
            "total": _SC_RATE.times(-1),
            "refs": (_ref(SystemKind.ERP, "tryton-us", "account.invoice", "5161"),),
        }
    )
    t = _at(11, 9, 11)
    credited = ev.InvoiceCredited(
        credit_note=credit_note,
        credited_invoice_id=INVOICE,
        reason="time entry te-0901 reversed after invoicing",
        credited_at=t,
    )
    b.add(credited, t, 1, cause=invoiced)
    t = _at(11, 12, 6)
    leakage = ev.RevenueLeakageDetected(
        project_id=PROJECT,
        kind=ev.LeakageKind.NOT_INVOICED,
        amount=_SC_RATE.times(6),
        item_ids=("chg-0917",),
        item_count=1,
        oldest=date(2026, 10, 12),
        detected_at=t,
    )
    b.add(leakage, t, 1, correlation="leakage-2026-11-12")

    # Ops: derived by the suite itself.
    breach = ev.UtilizationThresholdBreached(
        resource_id=RESOURCE_UK,
        org_unit_id="ou-uk-tech-advisory",
        period="2026-10",
        actual_pct=Decimal("58.50"),
        target_pct=Decimal("75.00"),
        threshold_pct=Decimal("67.50"),
        direction=ev.BreachDirection.BELOW,
    )
    b.add(breach, _at(11, 1, 6), 1, le=LE_UK, correlation="util-2026-10")
    t = _at(11, 5, 2)
    mismatch = ev.ReconciliationMismatch(
        run_id="rec-us-20261105",
        kind=ev.MismatchKind.MINUTES_DIFFER,
        source_system=SystemKind.PSA,
        target_system=SystemKind.ERP,
        scope_key=f"{PROJECT}:2026-10",
        project_id=PROJECT,
        period="2026-10",
        source_value="1380",
        target_value="900",
        item_ids=("te-0904",),
        repairable=True,
        detected_at=t,
    )
    b.add(mismatch, t, 1, correlation="rec-us-20261105", service="time-expense")
    parked = ev.MessageParked(
        consumer="time-expense.post-approved-time",
        parked_id="prk-0019",
        original_event_id=_PARKED_EVENT_ID,
        original_event_type="TimeApproved",
        routing_key="time.TimeApproved.v1.us.le-us",
        reason="retries_exhausted",
        detail="Tryton JSON-RPC call timed out after 30 s on each of 5 attempts",
        exception_class="httpx.ReadTimeout",
        attempts=5,
        first_failure_at=_at(11, 2, 14, 3),
        last_failure_at=_at(11, 2, 14, 33),
    )
    b.add(parked, _at(11, 2, 14, 33), 1, cause=failure, service="time-expense")
    t = _at(11, 4, 9)
    stuck = ev.QuoteToCashStuck(
        opportunity_id="opp-0124",
        step="validate_customer",
        since=_at(11, 3, 9),
        waiting_for="a valid VAT id on the CRM account of cus-initech",
        reason="VIES rejected the VAT id: the customer's tax profile is invalid",
        detected_at=t,
    )
    b.add(stuck, t, 1, le=LE_DE, correlation="q2c-opp-0124")
    return b.envelopes
