"""charts/tandem lints, renders and installs, and what it renders is valid and hardened.

Offline, with Helm's Go SDK (helm-python-sdk): the chart lints strict with its library
subchart; the defaults and tests/deploy/values/all-features.yaml render; every built-in object
is valid against the strict schemas of the oldest and newest Kubernetes the chart supports
(custom resources, which have no schema there, are checked field by field); checkov passes
with the checks charts/tandem/checkov.yaml enforces; and a second service renders beside the
first without collisions, a disabled one not at all. The fixtures are in conftest.py.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import helm_python
import jsonschema  # type: ignore[import-untyped]
import kubernetes_validate  # type: ignore[import-untyped]
import pytest

from .chart_support import (
    CHART,
    NAMESPACE,
    OBSERVABILITY,
    QUEUES,
    RELEASE,
    SECOND_SERVICES,
    SERVICE,
    SERVICES,
    WITH_SYSTEMS,
    CheckovReport,
    Render,
    Rendered,
    check_custom_resource,
    checkov_policy,
    containers,
    deployment,
    env_of,
    is_custom,
    labels,
    load_values,
    pod_template,
    roles_of,
    second_services,
    selects,
    start_checkov,
    te,
)

# The chart's kubeVersion is >=1.29; 1.37 is the newest kubernetes-validate knows.
OLDEST_KUBERNETES, NEWEST_KUBERNETES = "1.29", "1.37"


@pytest.fixture(scope="module")
def checkov_reports(
    defaults: Rendered, all_features: Rendered, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, CheckovReport]:
    # Both runs at once: checkov takes seconds to start, and the machine has two cores.
    folder = tmp_path_factory.mktemp("checkov")
    running = {
        name: start_checkov(docs, folder / f"{name}.yaml")
        for name, docs in (("defaults", defaults), ("all-features", all_features))
    }
    return {name: CheckovReport.of(process) for name, process in running.items()}


# --- lint, render, install -------------------------------------------------------------


def test_the_chart_lints_strict_with_its_library(chart: Any) -> None:
    for values in ({}, load_values("all-features.yaml")):
        report = helm_python.lint(CHART, values, strict=True, with_subcharts=True)
        assert report["errors"] == [], report
        # Severity 1 is information ("icon is recommended"); 2 and up are warnings and errors.
        assert [m for m in report["messages"] if m["severity"] >= 2] == [], report
        assert report["total_charts_linted"] >= 1


def test_the_defaults_are_every_service_complete(defaults: Rendered) -> None:
    prefixes = [f"{RELEASE}-{service}" for service in SERVICES]
    role_names = {f"{RELEASE}-{s}-{r}" for s in SERVICES for r in roles_of(s)}
    assert defaults.names("Deployment") == role_names
    assert defaults.names("Service") == role_names
    assert defaults.names("ServiceAccount") == {n for p in prefixes for n in (p, f"{p}-migrate")}
    assert defaults.names("ConfigMap") == {f"{p}-env" for p in prefixes}
    assert defaults.names("Job") == {f"{p}-migrate" for p in prefixes}
    assert defaults.names("NetworkPolicy") == {
        f"{RELEASE}-default-deny",
        *(f"{p}-migrate" for p in prefixes),
        *role_names,
    }
    # Only observability reads the cluster's API: its Role and RoleBinding.
    assert defaults.names("Role") == defaults.names("RoleBinding") == {f"{RELEASE}-{OBSERVABILITY}"}
    # Each service's objects carry its own label: exactly these.
    for service, prefix in zip(SERVICES, prefixes, strict=True):
        per_role = {
            (kind, f"{prefix}-{r}")
            for kind in ("Deployment", "Service", "NetworkPolicy", "PodDisruptionBudget")
            for r in roles_of(service)
        }
        rbac = {("Role", prefix), ("RoleBinding", prefix)} if service == OBSERVABILITY else set()
        assert {(d["kind"], d["metadata"]["name"]) for d in defaults.of_service(service)} == {
            *per_role,
            *rbac,
            ("ServiceAccount", prefix),
            ("ServiceAccount", f"{prefix}-migrate"),
            ("ConfigMap", f"{prefix}-env"),
            ("Job", f"{prefix}-migrate"),
            ("NetworkPolicy", f"{prefix}-migrate"),
        }
    # The optional objects need operators (Prometheus, KEDA, Grafana): off by default.
    for kind in ("HorizontalPodAutoscaler", "ScaledObject", "ServiceMonitor", "PrometheusRule"):
        assert defaults.of_kind(kind) == []
    assert not any(labels(d).get("grafana_dashboard") for d in defaults.of_kind("ConfigMap"))
    # Never a Secret: they are only referred to.
    assert defaults.of_kind("Secret") == []


def test_all_features_render_every_optional_object(all_features: Rendered) -> None:
    prefixes = {f"{RELEASE}-{service}" for service in SERVICES}
    assert all_features.names("HorizontalPodAutoscaler") == {f"{RELEASE}-{SERVICE}-api"}
    assert all_features.names("ScaledObject") == {f"{prefix}-worker" for prefix in prefixes}
    assert all_features.names("ServiceMonitor") == prefixes
    assert all_features.names("PrometheusRule") == prefixes
    assert f"{RELEASE}-dashboard-tandem-services" in all_features.names("ConfigMap")
    for workload in all_features.workloads():
        assert pod_template(workload)["spec"]["imagePullSecrets"] == [{"name": "regcred"}]


def test_a_client_side_install_keeps_the_migration_a_hook(chart: Any) -> None:
    release = helm_python.Config(storage_driver="memory").install(
        CHART, RELEASE, namespace=NAMESPACE, dry_run="client"
    )
    manifest = Rendered.of({"manifest.yaml": release["manifest"]})
    assert manifest.names("Deployment") == {
        f"{RELEASE}-{service}-{r}" for service in SERVICES for r in roles_of(service)
    }
    # Hooks live beside the release's objects, not among them.
    assert manifest.of_kind("Job") == []
    for service in SERVICES:
        assert f"{RELEASE}-{service}-migrate" not in manifest.names("ServiceAccount")
    assert "Tandem 0.1.0 is installed" in release["notes"]
    # The notes name each service's own Secrets (the second services' databases are their own).
    for service in set(SECOND_SERVICES) & set(WITH_SYSTEMS):
        assert f"its Secrets: {service}-database (database), {service}-systems" in release["notes"]
    assert "its Secrets: tandem-database (database), time-expense-systems" in release["notes"]
    assert (
        "its Secrets: observability-database (database), "
        "observability-sources (TANDEM_PARKING_LOTS), "
        "observability-sources (TANDEM_RABBITMQ_MANAGEMENT_URL)"
    ) in release["notes"]
    assert "reads the workloads of tandem (Role tandem-observability" in release["notes"]


def test_a_second_service_gets_its_own_objects(render: Render) -> None:
    rendered = render(second_services())
    keys = [(d["kind"], d["metadata"]["name"]) for d in rendered.docs]
    assert len(keys) == len(set(keys)), "two objects share a kind and name"
    for service in SERVICES:
        kinds = [d["kind"] for d in rendered.of_service(service)]
        roles = len(roles_of(service))
        assert kinds.count("Deployment") == roles
        assert kinds.count("Service") == roles
        for kind in ("ConfigMap", "Job", "ServiceMonitor", "PrometheusRule"):
            assert kinds.count(kind) == 1, (service, kind)
        assert kinds.count("NetworkPolicy") == roles + 1
    assert len(rendered.names("NetworkPolicy") & {f"{RELEASE}-default-deny"}) == 1
    # No selector of one service selects the other's pods.
    pods = {
        labels(d)["tandem.io/service"]: labels(pod_template(d))
        for d in rendered.of_kind("Deployment")
    }
    for deploy in rendered.of_kind("Deployment"):
        owner = labels(deploy)["tandem.io/service"]
        for service, pod_labels in pods.items():
            if service != owner:
                assert not selects(deploy["spec"]["selector"]["matchLabels"], pod_labels)
    for service in SECOND_SERVICES:
        worker = rendered.one("ScaledObject", f"{RELEASE}-{service}-worker")
        assert worker["spec"]["triggers"][0]["metadata"]["queueName"].startswith(
            "^" + QUEUES[service].replace(".", "\\.")
        )
        (api,) = containers(deployment(rendered, "api", service))
        assert env_of(api)["OTEL_SERVICE_NAME"]["value"] == service
        assert api["image"].endswith(f"/{service}:0.1.0-rc.1")


def test_a_disabled_service_renders_nothing(render: Render, defaults: Rendered) -> None:
    rendered = render(te(enabled=False))
    assert rendered.of_service(SERVICE) == []
    # The other services are rendered exactly as in the defaults.
    for service in SECOND_SERVICES:
        assert rendered.of_service(service) == defaults.of_service(service)
    assert f"{RELEASE}-default-deny" in rendered.names("NetworkPolicy")
    # All off: no service's object, and no default-deny policy for pods that do not exist.
    none = render({"services": {service: {"enabled": False} for service in SERVICES}})
    assert [d for d in none.docs if labels(d).get("tandem.io/service")] == []
    assert none.of_kind("NetworkPolicy") == []


# --- Kubernetes schemas and custom resources -------------------------------------------


@pytest.mark.parametrize("version", [OLDEST_KUBERNETES, NEWEST_KUBERNETES])
def test_every_builtin_object_is_valid_kubernetes(rendered: Rendered, version: str) -> None:
    builtin = [doc for doc in rendered.docs if not is_custom(doc)]
    assert builtin
    for doc in builtin:
        # strict: an unknown field (a typo in a template) is an error, not ignored.
        kubernetes_validate.validate(doc, version, strict=True)


def test_the_readme_names_the_kubernetes_versions_validated() -> None:
    readme = (CHART / "README.md").read_text()
    assert f"{OLDEST_KUBERNETES}\N{EN DASH}{NEWEST_KUBERNETES}" in readme


def test_custom_resources_carry_what_their_operators_need(all_features: Rendered) -> None:
    custom = [doc for doc in all_features.docs if is_custom(doc)]
    assert {doc["kind"] for doc in custom} == {"ServiceMonitor", "PrometheusRule", "ScaledObject"}
    for doc in custom:
        check_custom_resource(doc)
    # Their references resolve inside the release.
    for scaled in all_features.of_kind("ScaledObject"):
        target = all_features.one("Deployment", scaled["spec"]["scaleTargetRef"]["name"])
        assert "replicas" not in target["spec"]
    for monitor in all_features.of_kind("ServiceMonitor"):
        selected = [
            s
            for s in all_features.of_kind("Service")
            if selects(monitor["spec"]["selector"]["matchLabels"], labels(s))
        ]
        ports = {port["name"] for s in selected for port in s["spec"]["ports"]}
        assert {e["port"] for e in monitor["spec"]["endpoints"]} == ports == {"http", "metrics"}
        assert len(selected) == len(roles_of(labels(monitor)["tandem.io/service"]))


def test_the_custom_resource_checks_are_live(all_features: Rendered) -> None:
    scaled = copy.deepcopy(all_features.of_kind("ScaledObject")[0])
    del scaled["spec"]["triggers"][0]["authenticationRef"]
    rule = copy.deepcopy(all_features.of_kind("PrometheusRule")[0])
    del rule["spec"]["groups"][1]["rules"][0]["annotations"]["runbook_url"]
    with pytest.raises(jsonschema.ValidationError, match="'authenticationRef' is a required"):
        check_custom_resource(scaled)
    with pytest.raises(jsonschema.ValidationError, match="'runbook_url' is a required"):
        check_custom_resource(rule)


# --- checkov ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["defaults", "all-features"])
def test_checkov_passes_every_enforced_check(
    checkov_reports: dict[str, CheckovReport], name: str
) -> None:
    enforced, skipped = checkov_policy()
    report = checkov_reports[name]
    assert report.failed == {}, report.failed
    # Each enforced check ran (a renamed or removed check would pass by never running).
    assert set(enforced) <= set(report.passed), set(enforced) - set(report.passed)
    assert not set(enforced) & set(skipped)


def test_checkov_would_catch_a_root_container(defaults: Rendered, tmp_path: Path) -> None:
    docs = copy.deepcopy(list(defaults.docs))
    api = next(d for d in docs if d["kind"] == "Deployment")
    del pod_template(api)["spec"]["securityContext"]
    del containers(api)[0]["securityContext"]
    del containers(api)[0]["livenessProbe"]
    report = CheckovReport.of(start_checkov(Rendered(tuple(docs)), tmp_path / "broken.yaml"))
    for check in ("CKV_K8S_8", "CKV_K8S_20", "CKV_K8S_22", "CKV_K8S_23", "CKV_K8S_37"):
        assert check in report.failed, check
