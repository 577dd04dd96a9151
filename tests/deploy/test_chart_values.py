"""charts/tandem refuses values that would not make a working, hardened Tandem.

Each bad value is refused, by the values schema or by the templates, with a message naming it;
the chart's defaults, the test values and the k8s/ overlays' values are accepted; and the
chart's README documents every value the schema allows. The fixtures are in conftest.py.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from typing import Any

import helm_python
import pytest

from .chart_support import (
    CHART,
    NAMESPACE,
    OBSERVABILITY,
    RELEASE,
    ROOT,
    SERVICE,
    SERVICES,
    Render,
    chart_defaults,
    containers,
    env_of,
    labels,
    load_values,
    only,
    role,
    role_count,
    te,
)


def refusal(chart: Any, values: dict[str, Any]) -> str:
    """The message the chart refuses ``values`` with (the schema's, else the templates')."""
    try:
        chart.validate_schema(values)
        chart.render(values, name=RELEASE, namespace=NAMESPACE)
    except helm_python.HelmError as error:
        return str(error)
    pytest.fail(f"the chart accepted {values}")


# --- the schema and the templates refuse bad values ------------------------------------


REFUSALS = {
    "replicas-negative": (role("api", replicas=-1), "/roles/api/replicas': minimum"),
    "unknown-key-at-service-level": (te(colour="blue"), "additional properties 'colour'"),
    "unknown-key-at-top-level": ({"servics": {}}, "additional properties 'servics'"),
    "unknown-worker-role": (
        role("worker", workerRoles=["consume", "bake"]),
        "workerRoles/1': value must be one of 'consume', 'ingest', 'relay', 'schedule'",
    ),
    "unknown-role-kind": (role("api", kind="cron"), "kind': value must be one of 'api', 'worker'"),
    "worker-without-worker-roles": (
        role("worker", workerRoles=None),
        "missing property 'workerRoles'",
    ),
    "image-tag-a-number": ({"global": {"image": {"tag": 1.2}}}, "/global/image/tag': got number"),
    "service-image-tag-a-number": (te(image={"tag": 2}), "/image/tag': got number, want string"),
    "database-password-inline": (
        {"global": {"secrets": {"database": {"password": "hunter2"}}}},
        "additional properties 'password' not allowed",
    ),
    "broker-url-inline-per-service": (
        te(secrets={"broker": {"url": "amqp://u:p@rabbit:5672/"}}),
        "additional properties 'url' not allowed",
    ),
    "systems-value-inline": (
        te(secrets={"systems": {"value": '{"erp": {}}'}}),
        "additional properties 'value' not allowed",
    ),
    "database-url-in-env": (
        te(env={"TANDEM_DATABASE_URL": "postgresql://u:p@db/tandem"}),
        "env/TANDEM_DATABASE_URL': value must be '<refused: a secret",
    ),
    "api-keys-in-role-env": (
        role("api", env={"TANDEM_API_KEYS": '{"k": ["time:read"]}'}),
        "env/TANDEM_API_KEYS': value must be '<refused: a secret",
    ),
    "erp-password-in-env": (
        te(env={"TANDEM_ERP_PASSWORD": "hunter2"}),
        "env/TANDEM_ERP_PASSWORD': value must be '<refused: a secret",
    ),
    "chart-managed-setting-in-env": (
        te(env={"TANDEM_PARTITIONS": "4"}),
        "env/TANDEM_PARTITIONS': value must be '<refused: the chart sets",
    ),
    "env-value-not-a-string": (te(env={"TANDEM_PREFETCH": 512}), "got number, want string"),
    "autoscaling-max-below-min": (
        role("api", autoscaling={"enabled": True, "minReplicas": 3, "maxReplicas": 2}),
        "roles.api.autoscaling: maxReplicas (2) is below minReplicas (3)",
    ),
    "keda-max-below-min": (
        role("worker", keda={"enabled": True, "minReplicas": 4, "maxReplicas": 2}),
        "roles.worker.keda: maxReplicas (2) is below minReplicas (4)",
    ),
    "keda-without-its-auth-reference": (
        {"global": {"keda": {"triggerAuthentication": ""}}},
        "/global/keda/triggerAuthentication': minLength",
    ),
    "keda-and-autoscaling-together": (
        role("worker", keda={"enabled": True}, autoscaling={"enabled": True}),
        "roles.worker: enable autoscaling or keda, not both",
    ),
    "keda-on-a-role-that-does-not-consume": (
        role(
            "relay",
            keda={
                "enabled": True,
                "minReplicas": 1,
                "maxReplicas": 2,
                "queueLength": 10,
                "pollingInterval": 5,
                "cooldownPeriod": 60,
            },
        ),
        "roles.relay.keda: KEDA scales on queue depth",
    ),
    "autoscaling-without-a-target": (
        role("api", autoscaling={"enabled": True, "targetCPUUtilizationPercentage": None}),
        "roles.api.autoscaling: set targetCPUUtilizationPercentage",
    ),
    "consume-replicas-over-partitions": (
        role("worker", replicas=9),
        "roles.worker.replicas is 9, over services.time-expense.partitions (8)",
    ),
    "keda-max-over-partitions": (
        te(partitions=4, roles={"worker": {"replicas": 2, "keda": {"enabled": True}}}),
        "roles.worker.keda.maxReplicas is 8, over services.time-expense.partitions (4)",
    ),
    "autoscaling-max-over-partitions": (
        role("worker", autoscaling={"enabled": True, "maxReplicas": 9}),
        "roles.worker.autoscaling.maxReplicas is 9, over services.time-expense.partitions (8)",
    ),
    "partitions-zero": (te(partitions=0), "/partitions': minimum"),
    "pdb-budget-not-a-number": (
        role("api", pdb={"enabled": True, "maxUnavailable": "half"}),
        "'half' does not match pattern",
    ),
    "tracing-over-grpc": (
        {"global": {"tracing": {"protocol": "grpc"}}},
        "/global/tracing/protocol': value must be 'http/protobuf'",
    ),
    "sampler-ratio-above-one": (
        {"global": {"tracing": {"samplerArg": "2"}}},
        "/global/tracing/samplerArg': '2' does not match pattern",
    ),
    "service-name-not-kebab-case": (
        {"services": {"TimeExpense": chart_defaults()["services"][SERVICE]}},
        "invalid propertyName 'TimeExpense'",
    ),
    "parking-lots-in-env": (
        te(env={"TANDEM_PARKING_LOTS": '{"time-expense": {"api_key": "k"}}'}),
        "env/TANDEM_PARKING_LOTS': value must be '<refused: a secret",
    ),
    "broker-management-url-in-env": (
        te(env={"TANDEM_RABBITMQ_MANAGEMENT_URL": "http://u:p@rabbit:15672"}),
        "env/TANDEM_RABBITMQ_MANAGEMENT_URL': value must be '<refused: a secret",
    ),
    "kubernetes-namespace-in-env": (
        only(OBSERVABILITY, env={"TANDEM_KUBERNETES_NAMESPACE": "kube-system"}),
        "env/TANDEM_KUBERNETES_NAMESPACE': value must be '<refused: the chart sets",
    ),
    "database-url-as-a-secret-env": (
        te(secrets={"env": {"TANDEM_DATABASE_URL": {"name": "db", "key": "url"}}}),
        "invalid propertyName 'TANDEM_DATABASE_URL'",
    ),
    "secret-env-value-inline": (
        te(secrets={"env": {"TANDEM_PARKING_LOTS": {"name": "x", "key": "y", "value": "{}"}}}),
        "additional properties 'value' not allowed",
    ),
    "trace-url-without-its-placeholder": (
        {"global": {"tracing": {"traceUrlTemplate": "https://jaeger.example.com/trace/"}}},
        "/global/tracing/traceUrlTemplate': 'https://jaeger.example.com/trace/' does not match",
    ),
    "workload-reader-on-the-default-service-account": (
        only(OBSERVABILITY, serviceAccount={"create": False}),
        "services.observability.observes.workloads binds a Role to the service's ServiceAccount",
    ),
    # The services render in name order: billing-readiness's name is the first too long.
    "release-name-too-long": (
        {"_release": "r" * 50},
        f'"{"r" * 50}-billing-readiness" (release + service) is 68 characters; at most 55',
    ),
}


@pytest.mark.parametrize(("values", "message"), REFUSALS.values(), ids=REFUSALS.keys())
def test_bad_values_are_refused_with_a_clear_message(
    chart: Any, values: dict[str, Any], message: str
) -> None:
    values = copy.deepcopy(values)
    release = values.pop("_release", None)
    if release is None:
        assert message in refusal(chart, values)
        return
    with pytest.raises(helm_python.HelmError, match=re.escape(message)):
        chart.render(values, name=release, namespace=NAMESPACE)


@pytest.mark.parametrize(
    "overlay", sorted(p.parent.name for p in (ROOT / "k8s" / "overlays").glob("*/values.yaml"))
)
def test_the_k8s_overlays_values_install_the_chart(render: Render, overlay: str) -> None:
    # k8s/overlays/<env>/values.yaml is what `helm install -f` gets on a cluster k8s/ built.
    rendered = render(load_values(ROOT / "k8s" / "overlays" / overlay / "values.yaml"))
    assert len(rendered.of_kind("Deployment")) == role_count()
    databases: dict[str, set[str]] = {}
    for workload in rendered.workloads():
        ref = env_of(containers(workload)[0])["TANDEM_DATABASE_URL"]["valueFrom"]["secretKeyRef"]
        assert ref["name"]
        databases.setdefault(labels(workload)["tandem.io/service"], set()).add(ref["name"])
    # One database per service: each service reads one Secret, and no two share it.
    assert set(databases) == set(SERVICES)
    assert all(len(names) == 1 for names in databases.values()), databases
    assert len(set.union(*databases.values())) == len(SERVICES), databases


def test_the_chart_defaults_and_the_test_values_pass_the_schema(chart: Any) -> None:
    # So each refusal above is the bad value's, not the base's.
    chart.validate_schema({})
    chart.validate_schema(load_values("all-features.yaml"))


# --- the README documents every value --------------------------------------------------


def test_the_readme_documents_every_value() -> None:
    readme = (CHART / "README.md").read_text()
    # Rows of the values table: a dotted path in the first column.
    documented = set(re.findall(r"^\| `([A-Za-z]+\.[^`]+)` \|", readme, flags=re.MULTILINE))
    schema = json.loads((CHART / "values.schema.json").read_text())
    paths = set(_schema_paths(schema, schema["definitions"]))
    assert "services.<name>.roles.<role>.keda.queueLength" in paths
    assert "global.secrets.database.key" in paths
    missing = sorted(paths - documented)
    assert missing == [], f"values not in charts/tandem/README.md's table: {missing}"
    stale = sorted(documented - paths)
    assert stale == [], f"README documents values the schema does not have: {stale}"


def _schema_paths(
    node: dict[str, Any], definitions: dict[str, Any], prefix: str = ""
) -> Iterator[str]:
    """Dotted paths of every value the schema allows (services and roles as <name>, <role>)."""
    if "$ref" in node:
        node = definitions[node["$ref"].removeprefix("#/definitions/")]
    if prefix.endswith(".resources.") or "properties" not in node:
        yield prefix.removesuffix(".")
        return
    for key, child in node["properties"].items():
        if key == "tandem-lib":  # Helm's own entry for the library chart
            continue
        if key in {"services", "roles"}:
            placeholder = "<name>" if key == "services" else "<role>"
            yield from _schema_paths(
                child["additionalProperties"], definitions, f"{prefix}{key}.{placeholder}."
            )
        else:
            yield from _schema_paths(child, definitions, f"{prefix}{key}.")
