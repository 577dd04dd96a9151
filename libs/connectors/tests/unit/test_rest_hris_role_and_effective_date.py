"""An HRIS worker's job title and effective date, read into the port's ``HrisWorker``."""

from datetime import date
from typing import Any

from tandem_connectors.rest._hris import hris_worker

# What the sandbox HRIS answers for a worker made by POST /v1/hires with a job title.
WORKER: dict[str, Any] = {
    "id": "wrk_7",
    "first_name": "Ada",
    "last_name": "Lovelace",
    "email": "ada@example.com",
    "company": "le-de",
    "employment_type": "employee",
    "hire_date": "2026-03-02",
    "job_title": "Senior Consultant",
    "location_country": "DE",
    "home_currency": "EUR",
    "worker_number": "W000007",
    "status": "pre_hire",
    "termination_date": None,
    "version": 1,
    "updated_at": "2026-02-20T08:00:00+00:00",
}


def test_the_job_title_is_the_workers_role() -> None:
    assert hris_worker(WORKER).role == "Senior Consultant"


def test_a_worker_without_a_job_title_has_no_role() -> None:
    bare = {key: value for key, value in WORKER.items() if key != "job_title"}
    assert hris_worker(bare).role is None
    assert hris_worker(WORKER | {"job_title": ""}).role is None


def test_an_effective_date_is_read_when_the_record_carries_one() -> None:
    assert hris_worker(WORKER).effective_date is None
    dated = hris_worker(WORKER | {"effective_date": "2026-04-01"})
    assert dated.effective_date == date(2026, 4, 1)


def test_the_role_and_the_date_stay_out_of_nothing_personal() -> None:
    worker = hris_worker(WORKER | {"effective_date": "2026-04-01"})
    assert "ada@example.com" not in repr(worker)
    assert "Lovelace" not in repr(worker)
    assert "Senior Consultant" in repr(worker)
