"""charts/tandem scales each role as its README promises.

No replica count where an autoscaler owns it; a PodDisruptionBudget for each role with more
than one replica; each service's partition count in its pods; KEDA scaling the consumer on the
depth of its partition queues, and the HPA on CPU and memory. The fixtures are in conftest.py.
"""

from __future__ import annotations

import re

import pytest

from .chart_support import (
    BILLING_READINESS,
    OBSERVABILITY,
    PROJECT_SYNC,
    QUEUES,
    RELEASE,
    SECOND_SERVICES,
    SERVICE,
    SERVICES,
    STAFFING_SYNC,
    Render,
    Rendered,
    containers,
    deployment,
    resolved_env,
    role,
    roles_of,
    second_services,
)


def test_no_replica_count_where_an_autoscaler_owns_it(
    defaults: Rendered, all_features: Rendered
) -> None:
    for workload in defaults.of_kind("Deployment"):
        assert workload["spec"]["replicas"] == 2
    owned = {
        a["spec"]["scaleTargetRef"]["name"]
        for kind in ("HorizontalPodAutoscaler", "ScaledObject")
        for a in all_features.of_kind(kind)
    }
    assert owned == {
        f"{RELEASE}-{SERVICE}-api",
        *(f"{RELEASE}-{service}-worker" for service in SERVICES),
    }
    for workload in all_features.of_kind("Deployment"):
        name = workload["metadata"]["name"]
        assert ("replicas" in workload["spec"]) is (name not in owned), name


def test_a_pdb_guards_each_role_with_more_than_one_replica(
    rendered: Rendered, render: Render
) -> None:
    budgets = rendered.of_kind("PodDisruptionBudget")
    for workload in rendered.of_kind("Deployment"):
        selector = workload["spec"]["selector"]["matchLabels"]
        matching = [b for b in budgets if b["spec"]["selector"]["matchLabels"] == selector]
        assert len(matching) == 1, workload["metadata"]["name"]
    assert len(budgets) == len(rendered.of_kind("Deployment"))
    relay = rendered.one("PodDisruptionBudget", f"{RELEASE}-{SERVICE}-relay")["spec"]
    assert relay.get("minAvailable", relay.get("maxUnavailable")) == 1
    # One replica: no budget (it could only block node drains).
    single = render(role("ingest", replicas=1))
    assert f"{RELEASE}-{SERVICE}-ingest" not in single.names("PodDisruptionBudget")
    assert f"{RELEASE}-{SERVICE}-api" in single.names("PodDisruptionBudget")


def test_each_service_gets_its_partition_count(render: Render) -> None:
    partitions_of = {PROJECT_SYNC: 4, STAFFING_SYNC: 2, BILLING_READINESS: 16, OBSERVABILITY: 3}
    rendered = render(second_services(partitions_of))
    for service, partitions in ((SERVICE, "8"), *((s, str(n)) for s, n in partitions_of.items())):
        workloads = [d for d in rendered.of_service(service) if d["kind"] == "Deployment"]
        assert len(workloads) == len(roles_of(service))
        for workload in workloads:
            env = resolved_env(containers(workload)[0], rendered)
            assert env["TANDEM_PARTITIONS"] == partitions
            assert env["TANDEM_SERVICE_NAME"] == service
            assert env["TANDEM_HTTP_HOST"] == "0.0.0.0"  # noqa: S104 - a pod listens on its IP


def test_keda_scales_the_consumer_on_its_partition_queues(all_features: Rendered) -> None:
    scaled = all_features.one("ScaledObject", f"{RELEASE}-{SERVICE}-worker")["spec"]
    assert (scaled["minReplicaCount"], scaled["maxReplicaCount"]) == (2, 8)
    (trigger,) = scaled["triggers"]
    assert trigger["type"] == "rabbitmq"
    assert trigger["authenticationRef"] == {"name": "tandem-rabbitmq-management"}
    metadata = trigger["metadata"]
    assert {k: metadata[k] for k in ("protocol", "mode", "useRegex", "operation", "value")} == {
        "protocol": "http",
        "mode": "QueueLength",
        "useRegex": "true",
        "operation": "sum",
        "value": "500",
    }
    queues = re.compile(metadata["queueName"])
    for partition in ("time-expense.postings.p0", "time-expense.postings.p12"):
        assert queues.fullmatch(partition)
    for other in (
        "time-expense.postings",
        "time-expense.postings.retry",
        "time-expenseXpostings.p0",
    ):
        assert not queues.fullmatch(other), other
    hpa = all_features.one("HorizontalPodAutoscaler", f"{RELEASE}-{SERVICE}-api")["spec"]
    targets = {
        m["resource"]["name"]: m["resource"]["target"]["averageUtilization"] for m in hpa["metrics"]
    }
    assert targets == {"cpu": 75, "memory": 80}


@pytest.mark.parametrize("service", SECOND_SERVICES)
def test_each_second_services_consumer_scales_on_its_own_partition_queues(
    all_features: Rendered, service: str
) -> None:
    scaled = all_features.one("ScaledObject", f"{RELEASE}-{service}-worker")["spec"]
    assert scaled["scaleTargetRef"]["name"] == f"{RELEASE}-{service}-worker"
    assert (scaled["minReplicaCount"], scaled["maxReplicaCount"]) == (2, 4)
    (trigger,) = scaled["triggers"]
    assert trigger["type"] == "rabbitmq"
    assert trigger["authenticationRef"] == {"name": "tandem-rabbitmq-management"}
    assert trigger["metadata"]["value"] == "50"
    queues = re.compile(trigger["metadata"]["queueName"])
    own = QUEUES[service]
    for partition in (f"{own}.p0", f"{own}.p7"):
        assert queues.fullmatch(partition), partition
    others = [name for name in SERVICES if name != service]
    # Not the other services' partitions, nor its own queues that are not partitions.
    for other in (
        *(f"{QUEUES[name]}.p0" for name in others),
        own,
        f"{own}.retry",
        own.replace(".", "X", 1) + ".p0",
        f"{service}.events.p0",
    ):
        assert not queues.fullmatch(other), other
    # And the other services' triggers do not measure its queues.
    for name in others:
        theirs = all_features.one("ScaledObject", f"{RELEASE}-{name}-worker")["spec"]
        pattern = re.compile(theirs["triggers"][0]["metadata"]["queueName"])
        assert not pattern.fullmatch(f"{own}.p0"), name
    # Its workers are told the partition count the trigger's queues are cut into.
    (container,) = containers(deployment(all_features, "worker", service))
    env = resolved_env(container, all_features)
    assert env["TANDEM_PARTITIONS"] == "8"
    assert env["TANDEM_SERVICE_NAME"] == service
