"""The saga's values as JSON, and back: what ``project_sync.sagas`` keeps in its jsonb columns."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from project_sync.domain import Problem, ProblemCode, ProjectSetup, Sow
from project_sync.domain.saga import (
    Activity,
    Cause,
    Compensation,
    Failure,
    FailureReason,
    Recommit,
    Step,
)
from tandem_contracts.entities import BillingModel, ContractStatus, TaxProfile

__all__ = [
    "compensation_from",
    "compensation_json",
    "failure_from",
    "failure_json",
    "problem_from",
    "problem_json",
    "recommit_from",
    "recommit_json",
    "setup_from",
    "setup_json",
    "sow_from",
    "sow_json",
]


def setup_json(setup: ProjectSetup) -> dict[str, Any]:
    return {
        "opportunity_id": setup.opportunity_id,
        "name": setup.name,
        "selling_legal_entity_id": setup.selling_legal_entity_id,
        "customer_id": setup.customer_id,
        "currency": setup.currency,
        "rate_card_id": setup.rate_card_id,
        "org_unit_ids": list(setup.org_unit_ids),
        "tax_profile": setup.tax_profile.model_dump(mode="json") if setup.tax_profile else None,
    }


def setup_from(data: dict[str, Any]) -> ProjectSetup:
    profile = data.get("tax_profile")
    return ProjectSetup(
        opportunity_id=data["opportunity_id"],
        name=data["name"],
        selling_legal_entity_id=data["selling_legal_entity_id"],
        customer_id=data["customer_id"],
        currency=data["currency"],
        rate_card_id=data.get("rate_card_id"),
        tax_profile=TaxProfile.model_validate(profile) if profile else None,
        org_unit_ids=tuple(data.get("org_unit_ids") or ()),
    )


def sow_json(sow: Sow) -> dict[str, Any]:
    return {
        "contract_id": sow.contract_id,
        "version": sow.version,
        "status": sow.status.value,
        "billing_model": sow.billing_model.value if sow.billing_model else None,
        "po_required": sow.po_required,
        "po_number": sow.po_number,
    }


def sow_from(data: dict[str, Any]) -> Sow:
    model = data.get("billing_model")
    return Sow(
        contract_id=data["contract_id"],
        version=int(data["version"]),
        status=ContractStatus(data["status"]),
        billing_model=BillingModel(model) if model else None,
        po_required=bool(data.get("po_required")),
        po_number=data.get("po_number"),
    )


def problem_json(problem: Problem) -> dict[str, Any]:
    return {
        "code": problem.code.value,
        "field": problem.field,
        "message": problem.message,
        "key": problem.key,
        "waits": problem.waits,
    }


def problem_from(data: dict[str, Any]) -> Problem:
    return Problem(
        ProblemCode(data["code"]), data["field"], data["message"], data.get("key"), data["waits"]
    )


def failure_json(failure: Failure) -> dict[str, Any]:
    return {
        "step": failure.step.value,
        "detail": failure.detail,
        "at": failure.at.isoformat(),
        "problems": [problem_json(problem) for problem in failure.problems],
    }


def failure_from(reason: str, data: dict[str, Any], resume_on: list[str]) -> Failure:
    return Failure(
        step=Step(data["step"]),
        reason=FailureReason(reason),
        detail=data["detail"],
        at=datetime.fromisoformat(data["at"]),
        problems=tuple(problem_from(problem) for problem in data.get("problems", ())),
        resume_on=tuple(resume_on),
    )


def compensation_json(compensation: Compensation) -> dict[str, Any]:
    activity = compensation.activity
    return {
        "cause": compensation.cause.value,
        "at": compensation.at.isoformat(),
        "activity": None
        if activity is None
        else {
            "time_entries": activity.time_entries,
            "expense_entries": activity.expense_entries,
            "charges": activity.charges,
            "invoiced": activity.invoiced,
            "refused": activity.refused,
        },
    }


def compensation_from(data: dict[str, Any]) -> Compensation:
    activity = data.get("activity")
    return Compensation(
        cause=Cause(data["cause"]),
        at=datetime.fromisoformat(data["at"]),
        activity=None if activity is None else Activity(**activity),
    )


def recommit_json(recommit: Recommit) -> dict[str, Any]:
    return {
        "version": recommit.version,
        "at": recommit.at.isoformat(),
        "setup": setup_json(recommit.setup),
    }


def recommit_from(data: dict[str, Any]) -> Recommit:
    return Recommit(
        int(data["version"]), datetime.fromisoformat(data["at"]), setup_from(data["setup"])
    )
