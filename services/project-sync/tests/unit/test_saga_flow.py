"""The saga's forward path: commit → validate → ERP shell → PSA shell → code written back →
ProjectShellCreated → statement of work → activated in ERP then PSA → ProjectActivated."""

from datetime import timedelta
from typing import Any

import pytest

from project_sync.domain import Problem, ProblemCode
from project_sync.domain.keys import Write, customer_key, project_id, write_key
from project_sync.domain.saga import (
    ActivateErp,
    ActivatePsa,
    CodeWrittenBack,
    CreateErpShell,
    CreatePsaShell,
    DependencySatisfied,
    ErpActivated,
    ErpShellCreated,
    FailureReason,
    PsaActivated,
    PsaShellCreated,
    PublishActivated,
    PublishShellCreated,
    SetupChecked,
    Step,
    StepBlocked,
    StepSucceeded,
    ValidateSetup,
    WriteBackCode,
    decide,
)

from .q2c import OPP, Driver, at, committed, proposed, sow_approved


def test_a_commit_starts_generation_one_with_its_validation() -> None:
    decision = decide(None, committed())

    assert decision.saga.generation == 1
    assert decision.saga.step is Step.VALIDATE
    assert decision.saga.entered_at == at(0)
    assert decision.commands == (ValidateSetup(OPP, 1, proposed()),)


def test_each_step_answers_the_next_write_under_its_generation_key() -> None:
    saga = decide(None, committed()).saga
    pid = project_id(OPP, 1)

    # Validation passes: the ERP shell is created first (the ERP mints the code).
    step = decide(saga, SetupChecked(OPP, 1, at(1), proposed()))
    assert step.commands == (CreateErpShell(pid, proposed(), write_key(OPP, 1, Write.ERP_SHELL)),)

    # The ERP answers: the PSA shell under the ERP's code.
    step = decide(step.saga, StepSucceeded(OPP, 1, at(2), ErpShellCreated("erp-7", "P-0007")))
    assert step.saga.project_code == "P-0007"
    key = write_key(OPP, 1, Write.PSA_SHELL)
    assert step.commands == (CreatePsaShell(pid, proposed(), "P-0007", "erp-7", key),)

    # The PSA answers: the code goes back onto the CRM opportunity.
    step = decide(step.saga, StepSucceeded(OPP, 1, at(3), PsaShellCreated("psa-9")))
    assert step.commands == (WriteBackCode(OPP, "P-0007", write_key(OPP, 1, Write.CRM_CODE)),)

    # Written back: the shell is announced, and the saga waits for the statement of work.
    step = decide(step.saga, StepSucceeded(OPP, 1, at(4), CodeWrittenBack()))
    assert step.commands == (
        PublishShellCreated(pid, OPP, "P-0007", f"project:{OPP}:g1:ProjectShellCreated"),
    )
    assert step.saga.step is Step.AWAITING_SOW
    assert [visit.step for visit in step.saga.history] == [
        Step.VALIDATE,
        Step.ERP_SHELL,
        Step.PSA_SHELL,
        Step.CRM_WRITEBACK,
        Step.SHELL_CREATED,
        Step.AWAITING_SOW,
    ]


def test_an_approved_sow_activates_in_the_erp_then_the_psa_then_announces() -> None:
    driver = Driver()
    driver.hear(committed())
    assert driver.step() is Step.AWAITING_SOW

    step = decide(driver.saga, sow_approved(minutes=30))
    pid = project_id(OPP, 1)
    assert step.saga.step is Step.ACTIVATING
    assert step.commands == (ActivateErp(pid, "erp-1", write_key(OPP, 1, Write.ERP_ACTIVATION)),)

    step = decide(step.saga, StepSucceeded(OPP, 1, at(31), ErpActivated()))
    assert step.saga.step is Step.ACTIVATING
    assert step.commands == (
        ActivatePsa(
            pid,
            f"psa-{write_key(OPP, 1, Write.PSA_SHELL)}",
            write_key(OPP, 1, Write.PSA_ACTIVATION),
        ),
    )

    step = decide(step.saga, StepSucceeded(OPP, 1, at(32), PsaActivated()))
    assert step.saga.step is Step.ACTIVE
    assert step.commands == (
        PublishActivated(pid, OPP, "sow-1", f"project:{OPP}:g1:ProjectActivated"),
    )


def test_the_whole_way_leaves_one_project_in_each_system_with_the_same_code() -> None:
    driver = Driver()

    driver.hear(committed())
    driver.hear(sow_approved())

    assert driver.step() is Step.ACTIVE
    assert [r.status for r in driver.world.erp.values()] == ["active"]
    assert [r.status for r in driver.world.psa.values()] == ["active"]
    assert list(driver.world.crm_codes.values()) == ["P-0001"]
    assert [type(c).__name__ for c in driver.world.announced] == [
        "PublishShellCreated",
        "PublishActivated",
    ]


def test_a_sow_approved_before_the_shell_exists_activates_as_soon_as_it_does() -> None:
    driver = Driver()
    driver.hear(committed(), carry_out=False)
    driver.hear(sow_approved(minutes=1), carry_out=False)
    assert driver.step() is Step.VALIDATE

    driver.resume()

    assert driver.step() is Step.ACTIVE


def test_a_sow_approved_before_any_commit_is_kept_for_the_first_generation() -> None:
    driver = Driver()
    driver.hear(sow_approved(minutes=-5))
    assert driver.step() is Step.NOT_STARTED

    driver.hear(committed())

    assert driver.saga.generation == 1
    assert driver.step() is Step.ACTIVE


@pytest.mark.parametrize(
    ("changes", "codes"),
    [
        ({"po_number": None}, [ProblemCode.PO_MISSING]),
        ({"status": "pending_approval"}, [ProblemCode.CONTRACT_NOT_APPROVED]),
        ({"billing_model": None}, [ProblemCode.BILLING_MODEL_UNKNOWN]),
        (
            {"status": "draft", "po_number": " ", "billing_model": None},
            [
                ProblemCode.CONTRACT_NOT_APPROVED,
                ProblemCode.PO_MISSING,
                ProblemCode.BILLING_MODEL_UNKNOWN,
            ],
        ),
    ],
)
def test_a_sow_failing_its_gates_holds_the_saga_until_a_fixed_one_arrives(
    changes: dict[str, Any], codes: list[ProblemCode]
) -> None:
    driver = Driver()
    driver.hear(committed())

    driver.hear(sow_approved(1, **changes))

    failure = driver.saga.failure
    assert driver.saga.state == "failed"
    assert failure is not None
    assert failure.reason is FailureReason.SOW_NOT_READY
    assert [problem.code for problem in failure.problems] == codes
    assert driver.world.writes[-1].__class__.__name__ == "WriteBackCode"  # nothing activated

    # The contract is fixed at the source and approved again: the saga goes on by itself.
    driver.hear(sow_approved(2))
    assert driver.step() is Step.ACTIVE


def test_a_sow_without_po_passes_when_the_contract_needs_none() -> None:
    driver = Driver()
    driver.hear(committed())
    driver.hear(sow_approved(po_required=False, po_number=None))
    assert driver.step() is Step.ACTIVE


def test_a_customer_not_yet_in_the_erp_waits_and_goes_on_when_linked() -> None:
    driver = Driver()
    waits = Problem(
        ProblemCode.CUSTOMER_NOT_LINKED, "customer_id", "not yet", customer_key("cust-globex"), True
    )
    driver.world.problems = (waits,)

    driver.hear(committed())
    assert driver.saga.state == "waiting"
    assert driver.saga.waiting_for == "customer:cust-globex"
    assert driver.world.erp == {}

    # Another key released: nothing moves.
    driver.hear(DependencySatisfied(OPP, at(4), "customer:cust-other"))
    assert driver.saga.waiting_for == "customer:cust-globex"

    driver.world.problems = ()
    driver.hear(DependencySatisfied(OPP, at(5), "customer:cust-globex"))
    assert driver.step() is Step.AWAITING_SOW
    assert len(driver.world.erp) == 1


def test_an_invalid_vat_id_fails_with_every_problem_and_resumes_when_fixed() -> None:
    driver = Driver()
    vat = Problem(ProblemCode.VAT_INVALID, "tax_profile.vat_id", "bad", customer_key("cust-globex"))
    entity = Problem(
        ProblemCode.ENTITY_NOT_ALLOWED, "selling_legal_entity_id", "no", "legal-entity:le-de"
    )
    driver.world.problems = (vat, entity)

    driver.hear(committed())

    failure = driver.saga.failure
    assert failure is not None
    assert failure.reason is FailureReason.SETUP_INVALID
    assert failure.problems == (vat, entity)
    assert failure.resume_on == ("customer:cust-globex", "legal-entity:le-de")
    assert driver.saga.state == "failed"

    # The VAT id is fixed in the CRM; the customer's key is released; the saga checks again.
    driver.world.problems = ()
    driver.hear(DependencySatisfied(OPP, at(90), "customer:cust-globex"))
    assert driver.saga.failure is None
    assert driver.step() is Step.AWAITING_SOW


def test_a_changed_commit_before_any_shell_is_validated_afresh() -> None:
    saga = decide(None, committed()).saga
    bad = Problem(ProblemCode.CURRENCY_NOT_ALLOWED, "currency", "no USD", "legal-entity:le-de")
    saga = decide(saga, SetupChecked(OPP, 1, at(1), proposed(), (bad,))).saga
    assert saga.state == "failed"

    decision = decide(saga, committed(version=2, minutes=5, currency="USD"))

    assert decision.saga.setup == proposed(currency="USD")
    assert decision.saga.failure is None
    assert decision.commands == (ValidateSetup(OPP, 1, proposed(currency="USD")),)
    # The answer about the superseded set-up no longer moves it.
    stale = decide(decision.saga, SetupChecked(OPP, 1, at(6), proposed()))
    assert stale.saga is decision.saga
    assert stale.commands == ()


def test_a_step_blocked_on_a_dependency_waits_and_resumes_on_its_key() -> None:
    driver = Driver()
    driver.hear(committed(), carry_out=False)
    driver.hear(SetupChecked(OPP, 1, at(1), proposed()), carry_out=False)
    assert driver.step() is Step.ERP_SHELL

    driver.hear(StepBlocked(OPP, 1, at(2), Step.ERP_SHELL, "company:erp-eu:le-de"))
    assert driver.saga.state == "waiting"

    driver.hear(DependencySatisfied(OPP, at(3), "company:erp-eu:le-de"))
    assert driver.step() is Step.AWAITING_SOW


def test_time_to_active_runs_from_the_commit() -> None:
    driver = Driver()
    driver.hear(committed(minutes=0))
    assert driver.saga.time_to_active is None

    driver.hear(sow_approved(minutes=45))

    assert driver.saga.time_to_active == timedelta(minutes=45)
