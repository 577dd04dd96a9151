"""Personal data stays in the worker's residency region; ids travel anywhere."""

from datetime import date

from hypothesis import given
from hypothesis import strategies as st

from staffing_sync.domain.residency import (
    PERSONAL_FIELDS,
    PORTABLE_FIELDS,
    PersonalData,
    releasable,
    worker_payload,
)
from tandem_contracts.entities import EmploymentType, Worker, WorkerStatus

WORKER = Worker(
    id="wrk-1",
    worker_number="W000001",
    legal_entity_id="le-de",
    employment_type=EmploymentType.EMPLOYEE,
    status=WorkerStatus.ACTIVE,
    hire_date=date(2025, 6, 2),
    manager_id="wrk-0",
    org_unit_id="ou-data",
    work_country="DE",
    home_currency="EUR",
)
ADA = PersonalData(email="ada@example.com")


def test_at_home_the_event_keeps_the_email_beside_the_worker() -> None:
    payload = worker_payload(WORKER, ADA, home="eu", destination="eu")
    assert payload.worker == WORKER
    assert payload.personal == ADA


def test_abroad_the_event_carries_the_worker_without_personal_data() -> None:
    payload = worker_payload(WORKER, ADA, home="eu", destination="us")
    assert payload.worker == WORKER  # ids, entity, org unit, manager: all still there
    assert payload.personal is None


def test_region_names_compare_without_case_or_spaces() -> None:
    assert worker_payload(WORKER, ADA, home="eu", destination=" EU ").personal == ADA


def test_the_email_is_left_out_of_repr() -> None:
    assert "ada@" not in repr(ADA)
    assert "ada@" not in repr(worker_payload(WORKER, ADA, home="eu", destination="eu"))


def test_every_field_of_the_canonical_worker_is_classified_portable() -> None:
    # A field added to the contract must be decided on here before it can travel.
    assert set(Worker.model_fields) <= PORTABLE_FIELDS
    assert not PORTABLE_FIELDS & PERSONAL_FIELDS


def test_abroad_personal_and_unknown_fields_stay_home() -> None:
    fields = {
        "id": "wrk-1",
        "legal_entity_id": "le-de",
        "org_unit_id": "ou-data",
        "role_id": "role-consultant",
        "email": "ada@example.com",
        "first_name": "Ada",
        "home_address": "1 Rue de la Paix",
        "shoe_size": 39,  # on neither list: stays home until decided
    }
    assert releasable(fields, home="eu", destination="apac") == {
        "id": "wrk-1",
        "legal_entity_id": "le-de",
        "org_unit_id": "ou-data",
        "role_id": "role-consultant",
    }
    assert releasable(fields, home="eu", destination="eu") == fields


@given(
    fields=st.dictionaries(
        st.sampled_from(sorted(PORTABLE_FIELDS | PERSONAL_FIELDS | {"other"})), st.text()
    ),
    home=st.sampled_from(["us", "eu", "uk", "apac"]),
    destination=st.sampled_from(["us", "eu", "uk", "apac"]),
)
def test_only_portable_fields_ever_leave_and_they_leave_unchanged(
    fields: dict[str, str], home: str, destination: str
) -> None:
    released = releasable(fields, home=home, destination=destination)
    assert released.items() <= fields.items()
    if home != destination:
        assert set(released) <= PORTABLE_FIELDS
        assert set(released) == set(fields) & PORTABLE_FIELDS
