"""Staffing the month: the firm's demand as resource requests in the PSA, staffing-sync's
ranked options, and the run as the resource manager booking the best option in the PSA
(staffing-sync turns each booking into ``AssignmentConfirmed``)."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import httpx

from month.quote import Won
from month.suite import PSA, Suite
from tandem_contracts.entities import Assignment, AssignmentStatus
from tandem_sandbox.scenario import Firm

__all__ = ["Staffed", "staff"]

_WAVE = 10  # requests ranked together; a later wave is ranked on the earlier ones' bookings


@dataclass
class Staffed:
    """What the month's requests came to."""

    requests: int = 0
    booked: int = 0
    confirmed: int = 0
    firm_choice: int = 0
    """Bookings whose best option was the consultant the firm itself had staffed."""
    refused: int = 0
    """Options the PSA would not book over the request's dates (the resource not bookable
    then: a worker employed for only part of them); the next option was booked instead."""
    unstaffed: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0


async def staff(firm: Firm, suite: Suite, won: Won, workers: dict[str, str]) -> Staffed:
    """A request per assignment the firm had over the month on a won project, each booked
    from its best option; answer the counts once staffing-sync confirmed the bookings."""
    started = time.monotonic()
    staffed = Staffed()
    wanted = [a for a in firm.assignments if _in_month(a, firm.month) and a.project_id in won.psa]
    role_of = {r.id: r.name for r in firm.roles}
    async with (
        httpx.AsyncClient(base_url=suite.sandbox.urls["psa"], timeout=60) as psa,
        suite.api("staffing-sync") as api,
    ):
        for n in range(0, len(wanted), _WAVE):
            wave = wanted[n : n + _WAVE]
            made_for = [(await _request(psa, a, won, role_of, firm.month), a) for a in wave]
            closed = sum(1 for m, _ in made_for if m is None)
            if closed:
                staffed.unstaffed["project closed in the PSA"] += closed
            asked = [m for m, _ in made_for if m is not None]
            wave = [a for m, a in made_for if m is not None]
            staffed.requests += len(asked)
            shown = await asyncio.gather(*(_proposed(api, r) for r, _ in asked))
            made = []
            for (request, body), answer, assignment in zip(asked, shown, wave, strict=True):
                if not answer.get("options"):
                    staffed.unstaffed[_why_none(answer)] += 1
                    continue
                booked = await _book_best(psa, request, body, answer["options"], staffed)
                if booked is None:
                    staffed.unstaffed["the PSA refused every option's booking"] += 1
                    continue
                ref, top = booked
                if top.get("worker_id") == workers.get(assignment.worker_id or ""):
                    staffed.firm_choice += 1
                made.append(ref)
            staffed.booked += len(made)
            staffed.confirmed += sum(await asyncio.gather(*(_confirmed(api, b) for b in made)))
    staffed.seconds = time.monotonic() - started
    return staffed


def _in_month(assignment: Assignment, month: date) -> bool:
    end = (month + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    return (
        assignment.status is not AssignmentStatus.PROPOSED
        and assignment.worker_id is not None
        and assignment.start_date <= end
        and (assignment.end_date is None or assignment.end_date >= month)
    )


async def _request(
    psa: httpx.AsyncClient, a: Assignment, won: Won, role_of: dict[str, str], month: date
) -> tuple[str, dict[str, Any]] | None:
    """The month's share of the assignment as an open request in the PSA (None: the PSA
    refused it, the project being closed)."""
    last = (month + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    start, end = max(a.start_date, month), min(a.end_date or last, last)
    days = sum(1 for n in range((end - start).days + 1) if (start + timedelta(n)).weekday() < 5)
    per_day = a.minutes_per_day or 240
    body = {"project_id": won.psa[a.project_id], "role": role_of.get(a.role_id or "", "Consultant"),
            "minutes": max(1, days * per_day), "start_date": start.isoformat(),
            "end_date": end.isoformat()}  # fmt: skip
    answer = await psa.post("/v1/resource-requests", json=body)
    if answer.status_code == 409:  # the project is closed (the firm finished it): no demand
        return None
    made = answer.raise_for_status().json()
    return str(made["id"]), {**body, "minutes_per_day": per_day}


async def _proposed(api: httpx.AsyncClient, request: str, within: float = 300.0) -> dict[str, Any]:
    """staffing-sync's answer to the PSA request once proposed (or failed, or the deadline)."""
    deadline = time.monotonic() + within
    shown: dict[str, Any] = {}
    while time.monotonic() < deadline:
        answer = await api.get(f"/v1/requests/{PSA}-{request}")
        if answer.is_success:
            shown = answer.json()
            if shown["status"] in {"proposed", "failed", "closed"}:
                return shown
        await asyncio.sleep(0.5)
    return shown


def _why_none(shown: dict[str, Any]) -> str:
    if not shown:
        return "no answer from staffing-sync"
    if shown.get("problem"):
        return str(shown["problem"])
    codes = Counter(
        str(reason.get("code", "excluded"))
        for exclusion in shown.get("excluded", [])
        for reason in exclusion.get("reasons", [])[:1]
    )
    return f"no candidate ({codes.most_common(1)[0][0]})" if codes else "no candidate"


async def _book_best(
    psa: httpx.AsyncClient,
    request: str,
    body: dict[str, Any],
    options: list[dict[str, Any]],
    staffed: Staffed,
) -> tuple[str, dict[str, Any]] | None:
    """The best option the PSA books, in rank order, and the booking; None if it refuses all."""
    for option in options:
        if (made := await _book(psa, request, body, option)) is not None:
            return made, option
        staffed.refused += 1
    return None


async def _book(
    psa: httpx.AsyncClient, request: str, body: dict[str, Any], top: dict[str, Any]
) -> str | None:
    """A hard booking of the option's resource over the request's dates; the request filled.
    None when the PSA refuses it (409: the resource is not bookable over those dates)."""
    booking = {"project_id": body["project_id"], "role": body["role"],
               "resource_id": str(top["resource_id"]).removeprefix(f"{PSA}-"),
               "start_date": body["start_date"], "end_date": body["end_date"],
               "minutes_per_day": body["minutes_per_day"]}  # fmt: skip
    answer = await psa.post("/v1/assignments", json=booking)
    if answer.status_code == 409:
        return None
    made = answer.raise_for_status().json()
    filled = {"status": "filled", "filled_by_assignment": str(made["id"])}
    (await psa.patch(f"/v1/resource-requests/{request}", json=filled)).raise_for_status()
    return f"{PSA}-{made['id']}"


async def _confirmed(api: httpx.AsyncClient, assignment: str, within: float = 300.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        answer = await api.get(f"/v1/assignments/{assignment}")
        if answer.is_success and answer.json().get("status") == "confirmed":
            return True
        await asyncio.sleep(0.5)
    return False
