"""Jobs and the scheduler's construction: validation and metrics, no database."""

import pytest
from prometheus_client import REGISTRY, CollectorRegistry

from tandem_service_kit import Job, JobMetrics, Scheduler

UNREACHABLE = "postgresql://postgres:postgres@127.0.0.1:1/postgres"


async def nothing() -> None:
    return None


@pytest.mark.parametrize("name", ["Refresh", "refresh_rates", "-refresh", "refresh-", "a--b"])
def test_a_job_name_must_be_kebab_case(name: str) -> None:
    with pytest.raises(ValueError, match="kebab-case"):
        Job(name, 1.0, nothing)


@pytest.mark.parametrize(("interval", "delay"), [(0.0, 0.0), (-1.0, 0.0), (1.0, -0.5)])
def test_a_job_needs_a_positive_interval_and_no_negative_delay(
    interval: float, delay: float
) -> None:
    with pytest.raises(ValueError, match="interval_s"):
        Job("refresh-rates", interval, nothing, initial_delay_s=delay)


def test_job_names_are_unique_within_a_scheduler() -> None:
    jobs = [Job("refresh-rates", 1.0, nothing), Job("refresh-rates", 2.0, nothing)]

    with pytest.raises(ValueError, match="unique"):
        Scheduler(UNREACHABLE, "kit-jobs", jobs)


def test_many_schedulers_share_the_default_registry_without_clashing() -> None:
    jobs = [Job("refresh-rates", 1.0, nothing)]

    first = Scheduler(UNREACHABLE, "kit-jobs-a", jobs)
    second = Scheduler(UNREACHABLE, "kit-jobs-b", jobs)

    assert not first.is_leader
    assert not second.is_leader
    assert REGISTRY.get_sample_value("tandem_scheduler_leader", {"service": "kit-jobs-b"}) == 0


def test_every_series_exists_before_the_first_run() -> None:
    registry = CollectorRegistry()
    jobs = [Job("refresh-rates", 1.0, nothing), Job("close-month", 60.0, nothing)]

    Scheduler(UNREACHABLE, "kit-jobs", jobs, metrics=JobMetrics(registry))

    for job in ("refresh-rates", "close-month"):
        for outcome in ("ok", "failed"):
            labels = {"service": "kit-jobs", "job": job, "outcome": outcome}
            assert registry.get_sample_value("tandem_job_runs_total", labels) == 0
    assert registry.get_sample_value("tandem_scheduler_leader", {"service": "kit-jobs"}) == 0


def test_leadership_is_retried_at_a_positive_interval() -> None:
    with pytest.raises(ValueError, match="retry_leadership_s"):
        Scheduler(UNREACHABLE, "kit-jobs", [], retry_leadership_s=0)
