"""charts/tandem renders a working, hardened Tandem, and refuses values that would not be one.

Offline, with Helm's Go SDK (helm-python-sdk): the chart lints strict with its library
subchart; the defaults and tests/deploy/values/all-features.yaml render; every built-in object
is valid against the strict schemas of the oldest and newest Kubernetes the chart supports
(custom resources, which have no schema there, are checked field by field); checkov passes
with the checks charts/tandem/checkov.yaml enforces; each bad value is refused with a message
naming it; and each promise of the chart's README holds on what it renders: no replica count
under an autoscaler, probes, OpenTelemetry variables, the migration hook, PDBs, network
policies, secrets by reference only, hardened pods, config checksums, immutable selectors,
partitions, alerts, dashboards, and a second service beside the first without collisions.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import helm_python
import jsonschema  # type: ignore[import-untyped]
import kubernetes_validate  # type: ignore[import-untyped]
import pytest
from prometheus_client import CollectorRegistry

from tandem_messaging._metrics import Metrics
from tandem_service_kit._jobs import JobMetrics

from .chart_support import (
    CHART,
    IMMUTABLE_LABELS,
    NAMESPACE,
    RELEASE,
    ROOT,
    CheckovReport,
    Rendered,
    annotations_of,
    chart_defaults,
    check_custom_resource,
    checkov_policy,
    containers,
    deep_merge,
    env_entries,
    env_of,
    is_custom,
    labels,
    load_values,
    pod_template,
    resolved_env,
    selects,
    start_checkov,
)

# The chart's kubeVersion is >=1.29; 1.37 is the newest kubernetes-validate knows.
OLDEST_KUBERNETES, NEWEST_KUBERNETES = "1.29", "1.37"
SERVICE = "time-expense"
ALERTS = {
    "TandemMessagesParked",
    "TandemIntakePaused",
    "TandemOutboxLag",
    "TandemReconciliationMismatches",
    "TandemReconciliationStale",
    "TandemPartitionsUnowned",
    "TandemSLOBurnFast",
    "TandemSLOBurnSlow",
}

Render = Callable[..., Rendered]


@pytest.fixture(scope="module")
def chart() -> Iterator[Any]:
    # Without this, the file:// library chart would be silently left out of every render.
    helm_python.dependency_update(CHART)
    with helm_python.Chart.load(CHART) as loaded:
        yield loaded


@pytest.fixture(scope="module")
def render(chart: Any) -> Render:
    def render(values: dict[str, Any] | None = None, *, name: str = RELEASE) -> Rendered:
        return Rendered.of(chart.render(values or {}, name=name, namespace=NAMESPACE))

    return render


@pytest.fixture(scope="module")
def defaults(render: Render) -> Rendered:
    return render()


@pytest.fixture(scope="module")
def all_features(render: Render) -> Rendered:
    return render(load_values("all-features.yaml"))


@pytest.fixture(scope="module", params=["defaults", "all-features"])
def rendered(request: pytest.FixtureRequest) -> Rendered:
    fixture = "defaults" if request.param == "defaults" else "all_features"
    found: Rendered = request.getfixturevalue(fixture)
    return found


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


def refusal(chart: Any, values: dict[str, Any]) -> str:
    """The message the chart refuses ``values`` with (the schema's, else the templates')."""
    try:
        chart.validate_schema(values)
        chart.render(values, name=RELEASE, namespace=NAMESPACE)
    except helm_python.HelmError as error:
        return str(error)
    pytest.fail(f"the chart accepted {values}")


def te(**service: Any) -> dict[str, Any]:
    """Values that change time-expense only."""
    return {"services": {SERVICE: service}}


def role(name: str, **values: Any) -> dict[str, Any]:
    return te(roles={name: values})


def deployment(rendered: Rendered, role_name: str, service: str = SERVICE) -> dict[str, Any]:
    return rendered.one("Deployment", f"{RELEASE}-{service}-{role_name}")


def egress_ports(policy: dict[str, Any]) -> set[int]:
    return {port["port"] for rule in policy["spec"].get("egress", []) for port in rule["ports"]}


# --- lint, render, install -------------------------------------------------------------


def test_the_chart_lints_strict_with_its_library(chart: Any) -> None:
    for values in ({}, load_values("all-features.yaml")):
        report = helm_python.lint(CHART, values, strict=True, with_subcharts=True)
        assert report["errors"] == [], report
        # Severity 1 is information ("icon is recommended"); 2 and up are warnings and errors.
        assert [m for m in report["messages"] if m["severity"] >= 2] == [], report
        assert report["total_charts_linted"] >= 1


def test_the_defaults_are_a_complete_time_expense(defaults: Rendered) -> None:
    roles = {"api", "worker", "ingest", "relay"}
    prefix = f"{RELEASE}-{SERVICE}"
    assert defaults.names("Deployment") == {f"{prefix}-{r}" for r in roles}
    assert defaults.names("Service") == {f"{prefix}-{r}" for r in roles}
    assert defaults.names("ServiceAccount") == {prefix, f"{prefix}-migrate"}
    assert defaults.names("ConfigMap") == {f"{prefix}-env"}
    assert defaults.names("Job") == {f"{prefix}-migrate"}
    assert defaults.names("NetworkPolicy") == {
        f"{RELEASE}-default-deny",
        f"{prefix}-migrate",
        *(f"{prefix}-{r}" for r in roles),
    }
    # The optional objects need operators (Prometheus, KEDA, Grafana): off by default.
    for kind in ("HorizontalPodAutoscaler", "ScaledObject", "ServiceMonitor", "PrometheusRule"):
        assert defaults.of_kind(kind) == []
    assert not any(labels(d).get("grafana_dashboard") for d in defaults.of_kind("ConfigMap"))
    # Never a Secret: they are only referred to.
    assert defaults.of_kind("Secret") == []


def test_all_features_render_every_optional_object(all_features: Rendered) -> None:
    prefix = f"{RELEASE}-{SERVICE}"
    assert all_features.names("HorizontalPodAutoscaler") == {f"{prefix}-api"}
    assert all_features.names("ScaledObject") == {f"{prefix}-worker"}
    assert all_features.names("ServiceMonitor") == {prefix}
    assert all_features.names("PrometheusRule") == {prefix}
    assert f"{RELEASE}-dashboard-tandem-services" in all_features.names("ConfigMap")
    for workload in all_features.workloads():
        assert pod_template(workload)["spec"]["imagePullSecrets"] == [{"name": "regcred"}]


def test_a_client_side_install_keeps_the_migration_a_hook(chart: Any) -> None:
    release = helm_python.Config(storage_driver="memory").install(
        CHART, RELEASE, namespace=NAMESPACE, dry_run="client"
    )
    manifest = Rendered.of({"manifest.yaml": release["manifest"]})
    assert manifest.names("Deployment") == {
        f"{RELEASE}-{SERVICE}-{r}" for r in ("api", "worker", "ingest", "relay")
    }
    # Hooks live beside the release's objects, not among them.
    assert manifest.of_kind("Job") == []
    assert f"{RELEASE}-{SERVICE}-migrate" not in manifest.names("ServiceAccount")
    assert "Tandem 0.1.0 is installed" in release["notes"]


# --- Kubernetes schemas and custom resources -------------------------------------------


@pytest.mark.parametrize("version", [OLDEST_KUBERNETES, NEWEST_KUBERNETES])
def test_every_builtin_object_is_valid_kubernetes(rendered: Rendered, version: str) -> None:
    builtin = [doc for doc in rendered.docs if not is_custom(doc)]
    assert builtin
    for doc in builtin:
        # strict: an unknown field (a typo in a template) is an error, not ignored.
        kubernetes_validate.validate(doc, version, strict=True)


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
        assert len(selected) == 4


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
    "release-name-too-long": ({"_release": "r" * 50}, "is 63 characters; at most 55"),
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
    assert len(rendered.of_kind("Deployment")) == 4
    for workload in rendered.workloads():
        ref = env_of(containers(workload)[0])["TANDEM_DATABASE_URL"]["valueFrom"]["secretKeyRef"]
        assert ref["name"]


def test_the_chart_defaults_and_the_test_values_pass_the_schema(chart: Any) -> None:
    # So each refusal above is the bad value's, not the base's.
    chart.validate_schema({})
    chart.validate_schema(load_values("all-features.yaml"))


# --- promises --------------------------------------------------------------------------


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
    assert owned == {f"{RELEASE}-{SERVICE}-api", f"{RELEASE}-{SERVICE}-worker"}
    for workload in all_features.of_kind("Deployment"):
        name = workload["metadata"]["name"]
        assert ("replicas" in workload["spec"]) is (name not in owned), name


def test_every_api_and_worker_container_has_probes(rendered: Rendered) -> None:
    for workload in rendered.of_kind("Deployment"):
        (container,) = containers(workload)
        (port,) = container["ports"]
        kind = container["args"][0]
        assert (port["name"], port["containerPort"]) == (
            ("http", 8000) if kind == "api" else ("metrics", 9000)
        )
        for probe, path in (
            ("startupProbe", "/healthz"),
            ("livenessProbe", "/healthz"),
            ("readinessProbe", "/readyz"),
        ):
            assert container[probe]["httpGet"] == {"path": path, "port": port["name"]}
        # The process waits for its database and broker before it answers: minutes of grace.
        startup = container["startupProbe"]
        assert startup["periodSeconds"] * startup["failureThreshold"] >= 120


def test_each_role_runs_its_command_and_worker_roles(defaults: Rendered) -> None:
    expected = {
        "api": (["api"], None),
        "worker": (["worker"], ["consume"]),
        "ingest": (["worker"], ["ingest", "schedule"]),
        "relay": (["worker"], ["relay"]),
    }
    for role_name, (args, worker_roles) in expected.items():
        (container,) = containers(deployment(defaults, role_name))
        assert container["args"] == args
        env = env_of(container)
        if worker_roles is None:
            assert "TANDEM_WORKER_ROLES" not in env
        else:
            assert json.loads(env["TANDEM_WORKER_ROLES"]["value"]) == worker_roles


def test_images_follow_registry_repository_service_tag(
    render: Render, defaults: Rendered, all_features: Rendered
) -> None:
    def images(rendered: Rendered) -> set[str]:
        return {c["image"] for w in rendered.workloads() for c in containers(w)}

    assert images(defaults) == {"tandem/time-expense:0.1.0"}
    assert images(all_features) == {"registry.example.com:5000/tandem/apps/time-expense:0.1.0-rc.1"}
    overridden = render(te(image={"repository": "acme", "tag": "0.2.0"}))
    assert images(overridden) == {"acme/time-expense:0.2.0"}
    assert all(
        c["imagePullPolicy"] == "IfNotPresent"
        for w in defaults.workloads()
        for c in containers(w)
    )  # fmt: skip


def test_opentelemetry_variables_name_each_service(rendered: Rendered, render: Render) -> None:
    tracing = load_values("all-features.yaml")["global"]["tracing"]
    for workload in rendered.of_kind("Deployment"):
        (container,) = containers(workload)
        env = env_of(container)
        names = list(env)
        assert env["OTEL_SERVICE_NAME"]["value"] == labels(workload)["tandem.io/service"]
        assert env["OTEL_EXPORTER_OTLP_PROTOCOL"]["value"] == "http/protobuf"
        assert env["OTEL_TRACES_SAMPLER"]["value"] == "parentbased_traceidratio"
        assert env["OTEL_EXPORTER_OTLP_ENDPOINT"]["value"] in {
            "http://tandem-otel-collector:4318",
            tracing["endpoint"],
        }
        for variable, field in (
            ("K8S_POD_NAME", "metadata.name"),
            ("K8S_NAMESPACE_NAME", "metadata.namespace"),
            ("K8S_NODE_NAME", "spec.nodeName"),
        ):
            assert env[variable]["valueFrom"]["fieldRef"]["fieldPath"] == field
            # $(VAR) expands only variables defined earlier in the list.
            assert names.index(variable) < names.index("OTEL_RESOURCE_ATTRIBUTES")
        attributes = dict(
            pair.split("=", 1) for pair in env["OTEL_RESOURCE_ATTRIBUTES"]["value"].split(",")
        )
        assert attributes["k8s.pod.name"] == "$(K8S_POD_NAME)"
        assert attributes["k8s.namespace.name"] == "$(K8S_NAMESPACE_NAME)"
        assert attributes["k8s.node.name"] == "$(K8S_NODE_NAME)"
        assert attributes["k8s.deployment.name"] == workload["metadata"]["name"]
        assert attributes["tandem.role"] == labels(workload)["app.kubernetes.io/component"]
        assert attributes["service.namespace"] == "tandem"
        assert attributes["service.version"] == labels(workload)["app.kubernetes.io/version"]
        assert "OTEL_SDK_DISABLED" not in env
    # Off: the SDK is disabled, and nothing points at a collector.
    for workload in render({"global": {"tracing": {"enabled": False}}}).of_kind("Deployment"):
        env = env_of(containers(workload)[0])
        assert env["OTEL_SDK_DISABLED"]["value"] == "true"
        assert "OTEL_EXPORTER_OTLP_ENDPOINT" not in env
        assert env["OTEL_SERVICE_NAME"]["value"] == SERVICE


def test_extra_resource_attributes_are_appended(all_features: Rendered) -> None:
    env = env_of(containers(deployment(all_features, "api"))[0])
    assert env["OTEL_TRACES_SAMPLER_ARG"]["value"] == "0.25"
    assert env["OTEL_RESOURCE_ATTRIBUTES"]["value"].endswith(",deployment.environment=prod")


def test_the_migration_is_a_pre_install_and_pre_upgrade_hook(
    defaults: Rendered, render: Render
) -> None:
    job = defaults.one("Job", f"{RELEASE}-{SERVICE}-migrate")
    hook = annotations_of(job)
    assert hook["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert set(hook["helm.sh/hook-delete-policy"].split(",")) == {
        "before-hook-creation",
        "hook-succeeded",
    }
    spec = job["spec"]
    assert spec["backoffLimit"] == 2
    assert spec["activeDeadlineSeconds"] == 900
    assert spec["ttlSecondsAfterFinished"] == 86400
    assert pod_template(job)["spec"]["restartPolicy"] == "Never"
    (container,) = containers(job)
    assert container["args"] == ["migrate"]
    # Its ServiceAccount is a hook too, created before it (lower weight): on a first install
    # the release's own ServiceAccount does not exist yet when hooks run.
    account = defaults.one("ServiceAccount", pod_template(job)["spec"]["serviceAccountName"])
    assert annotations_of(account)["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert int(annotations_of(account)["helm.sh/hook-weight"]) < int(hook["helm.sh/hook-weight"])
    # Nor does the ConfigMap: the same settings are given inline.
    assert not any("configMapRef" in source for source in container["envFrom"])
    config = defaults.one("ConfigMap", f"{RELEASE}-{SERVICE}-env")["data"]
    env = env_of(container)
    assert {k: env[k]["value"] for k in config} == config
    assert env["TANDEM_DATABASE_URL"]["valueFrom"]["secretKeyRef"]["name"] == "tandem-database"
    # Turned off, no Job and no hook account.
    off = render(te(migrations={"enabled": False}))
    assert off.of_kind("Job") == []
    assert f"{RELEASE}-{SERVICE}-migrate" not in off.names("ServiceAccount")


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


def test_network_policies_deny_by_default_and_allow_what_each_role_uses(
    defaults: Rendered, all_features: Rendered, render: Render
) -> None:
    policies = defaults.of_kind("NetworkPolicy")
    deny = defaults.one("NetworkPolicy", f"{RELEASE}-default-deny")["spec"]
    assert set(deny["policyTypes"]) == {"Ingress", "Egress"}
    assert "ingress" not in deny
    assert "egress" not in deny
    for workload in defaults.workloads():
        pod_labels = labels(pod_template(workload))
        assert selects(deny["podSelector"]["matchLabels"], pod_labels)
        own = [
            p
            for p in policies
            if p["metadata"]["name"] != f"{RELEASE}-default-deny"
            and selects(p["spec"]["podSelector"]["matchLabels"], pod_labels)
        ]
        assert len(own) == 1, workload["metadata"]["name"]

    def policy(name: str, rendered: Rendered = defaults) -> dict[str, Any]:
        return rendered.one("NetworkPolicy", f"{RELEASE}-{SERVICE}-{name}")

    # Egress: DNS and PostgreSQL always; RabbitMQ and the collector for the running roles;
    # the systems of record for the roles that call them; nothing else for the migration.
    assert egress_ports(policy("migrate")) == {53, 5432}
    assert egress_ports(policy("relay")) == {53, 5432, 5672, 4318}
    for calls_systems in ("api", "worker", "ingest"):
        assert egress_ports(policy(calls_systems)) == {53, 5432, 5672, 4318, 443}
    dns = policy("relay")["spec"]["egress"][0]
    assert {(p["port"], p["protocol"]) for p in dns["ports"]} == {(53, "UDP"), (53, "TCP")}
    # Ingress: the api's port from anyone; metrics from the monitoring namespace only.
    api_rules = policy("api")["spec"]["ingress"]
    assert any(
        r["ports"] == [{"port": "http", "protocol": "TCP"}] and "from" not in r for r in api_rules
    )
    for worker in ("worker", "ingest", "relay"):
        (rule,) = policy(worker)["spec"]["ingress"]
        assert rule["ports"] == [{"port": "metrics", "protocol": "TCP"}]
        assert rule["from"] == [
            {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
        ]
    assert policy("migrate")["spec"]["ingress"] == []
    # Peers narrowed in values are used as given.
    narrowed = policy("relay", all_features)["spec"]["egress"]
    broker = next(r for r in narrowed if {p["port"] for p in r["ports"]} == {5672, 5671})
    assert broker["to"] == [
        {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "tandem-rabbitmq"}}}
    ]
    api_from = policy("api", all_features)["spec"]["ingress"][0]["from"]
    assert api_from[0]["namespaceSelector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": "ingress-nginx"
    }
    # A service without systems of record gets no egress to them; off, no policies at all.
    no_systems = render(te(secrets={"systems": {"enabled": False}}))
    assert 443 not in egress_ports(policy("worker", no_systems))
    assert render({"global": {"networkPolicy": {"enabled": False}}}).of_kind("NetworkPolicy") == []


_CREDENTIALS_IN_URL = re.compile(r"://[^/@\s]*:[^/@\s]*@")
_SECRET_NAME = re.compile(r"(URL|PASSWORD|SECRET|TOKEN|KEYS?|INSTANCES|CREDENTIALS?)$")
_PLAIN_ALLOWED = {"OTEL_EXPORTER_OTLP_ENDPOINT", "TANDEM_JWT_JWKS_URL"}


def test_secrets_are_only_referred_to(rendered: Rendered, render: Render) -> None:
    for where, entry in env_entries(rendered):
        name = entry["name"]
        if "value" in entry:
            assert not _CREDENTIALS_IN_URL.search(entry["value"]), where
            assert name in _PLAIN_ALLOWED or not _SECRET_NAME.search(name), (where, name)
    for config_map in rendered.of_kind("ConfigMap"):
        for key, value in (config_map.get("data") or {}).items():
            assert not _CREDENTIALS_IN_URL.search(value), key
            assert key in _PLAIN_ALLOWED or not _SECRET_NAME.search(key), key
    for workload in rendered.workloads():
        for container in containers(workload):
            env = env_of(container)
            assert env["TANDEM_DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {
                "name": "tandem-database",
                "key": "url",
            }
            sources = container["envFrom"]
            assert {"secretRef": {"name": "tandem-auth"}} in sources
            assert {"secretRef": {"name": "time-expense-systems"}} in sources
            assert all(set(s) <= {"configMapRef", "secretRef"} for s in sources)
            if workload["kind"] == "Deployment":
                assert env["TANDEM_AMQP_URL"]["valueFrom"]["secretKeyRef"] == {
                    "name": "tandem-broker",
                    "key": "url",
                }
    assert rendered.of_kind("Secret") == []
    # A service overrides a reference in part: the rest comes from the global one.
    overridden = render(te(secrets={"database": {"name": "time-expense-db"}}))
    for workload in overridden.workloads():
        ref = env_of(containers(workload)[0])["TANDEM_DATABASE_URL"]["valueFrom"]
        assert ref["secretKeyRef"] == {"name": "time-expense-db", "key": "url"}


def test_every_pod_is_hardened(rendered: Rendered) -> None:
    for workload in rendered.workloads():
        spec = pod_template(workload)["spec"]
        assert spec["automountServiceAccountToken"] is False
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["runAsUser"] == 10001
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        tmp = {v["name"]: v for v in spec["volumes"]}["tmp"]
        assert "emptyDir" in tmp
        for container in containers(workload):
            context = container["securityContext"]
            assert context["runAsNonRoot"] is True
            assert context["readOnlyRootFilesystem"] is True
            assert context["allowPrivilegeEscalation"] is False
            assert context["privileged"] is False
            assert context["capabilities"] == {"drop": ["ALL"]}
            assert context["seccompProfile"] == {"type": "RuntimeDefault"}
            assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]  # noqa: S108
    for account in rendered.of_kind("ServiceAccount"):
        assert account["automountServiceAccountToken"] is False


def test_a_config_change_rolls_the_pods_and_nothing_else_does(
    defaults: Rendered, render: Render
) -> None:
    def checksums(rendered: Rendered) -> dict[str, str]:
        return {
            w["metadata"]["name"]: annotations_of(pod_template(w))["checksum/config"]
            for w in rendered.of_kind("Deployment")
        }

    before = checksums(defaults)
    assert len(set(before.values())) == 1
    assert all(re.fullmatch(r"[0-9a-f]{64}", value) for value in before.values())
    assert checksums(render()) == before
    assert checksums(render(role("api", replicas=3))) == before
    changed = checksums(render(te(env={"TANDEM_TENANT_ID": "globex"})))
    assert set(changed) == set(before)
    assert all(changed[name] != before[name] for name in before)
    assert checksums(render(te(partitions=16))) != before


def test_selectors_use_only_immutable_labels(rendered: Rendered) -> None:
    selectors: list[tuple[str, dict[str, str]]] = []
    for doc in rendered.docs:
        spec, kind = doc.get("spec", {}), doc["kind"]
        if kind in {"Deployment", "PodDisruptionBudget", "ServiceMonitor"}:
            selectors.append((kind, spec["selector"]["matchLabels"]))
        elif kind == "Service":
            selectors.append((kind, spec["selector"]))
        elif kind == "NetworkPolicy":
            selectors.append((kind, spec["podSelector"]["matchLabels"]))
    assert selectors
    for kind, selector in selectors:
        allowed = IMMUTABLE_LABELS | (
            {"app.kubernetes.io/part-of"} if kind == "NetworkPolicy" else set()
        )
        assert set(selector) <= allowed, (kind, selector)
        assert selector["app.kubernetes.io/instance"] == RELEASE
    for workload in rendered.of_kind("Deployment"):
        selector = workload["spec"]["selector"]["matchLabels"]
        assert selects(selector, labels(pod_template(workload)))
        assert "app.kubernetes.io/version" in labels(pod_template(workload))


def test_each_service_gets_its_partition_count(render: Render) -> None:
    rendered = render(_two_services(project_sync_partitions=4))
    for service, partitions in ((SERVICE, "8"), ("project-sync", "4")):
        workloads = [d for d in rendered.of_service(service) if d["kind"] == "Deployment"]
        assert len(workloads) == 4
        for workload in workloads:
            env = resolved_env(containers(workload)[0], rendered)
            assert env["TANDEM_PARTITIONS"] == partitions
            assert env["TANDEM_SERVICE_NAME"] == service
            assert env["TANDEM_HTTP_HOST"] == "0.0.0.0"  # noqa: S104 - a pod listens on its IP


def test_alerts_cover_each_service(all_features: Rendered, render: Render) -> None:
    rule = all_features.one("PrometheusRule", f"{RELEASE}-{SERVICE}")
    rules = [r for group in rule["spec"]["groups"] for r in group["rules"]]
    alerts = {r["alert"]: r for r in rules if "alert" in r}
    assert set(alerts) == ALERTS
    base = "https://github.com/tandem/tandem/blob/main/docs/runbook.md#"
    for name, alert in alerts.items():
        assert alert["labels"]["service"] == SERVICE
        assert alert["labels"]["severity"] in {"warning", "critical"}
        assert alert["annotations"]["runbook_url"] == base + name.lower()
        assert f'tandem_service="{SERVICE}"' in alert["expr"]
        assert f'namespace="{NAMESPACE}"' in alert["expr"]
    assert "tandem_messages_parked_total" in alerts["TandemMessagesParked"]["expr"]
    assert "[10m]" in alerts["TandemMessagesParked"]["expr"]
    assert alerts["TandemIntakePaused"]["for"] == "10m"
    assert alerts["TandemOutboxLag"]["expr"].endswith("> 60")
    assert alerts["TandemOutboxLag"]["for"] == "5m"
    assert 'job="reconcile"' in alerts["TandemReconciliationMismatches"]["expr"]
    # all-features reconciles every 1800 s: stale after two intervals.
    assert alerts["TandemReconciliationStale"]["expr"].endswith("> 3600")
    assert alerts["TandemPartitionsUnowned"]["expr"].count("< 8") == 1
    # Multiwindow, multi-burn-rate on 99.9 %: 14.4x over 1h and 5m, 6x over 6h and 30m.
    fast, slow = alerts["TandemSLOBurnFast"], alerts["TandemSLOBurnSlow"]
    assert fast["labels"]["severity"] == "critical"
    assert slow["labels"]["severity"] == "warning"
    for alert, factor, windows in ((fast, "14.4", ("1h", "5m")), (slow, "6", ("6h", "30m"))):
        assert alert["expr"].count(f"({factor} * (1 - 0.999))") == 2
        for window in windows:
            assert f"tandem:messages_park_ratio:rate{window}" in alert["expr"]
    recorded = {r["record"] for r in rules if "record" in r}
    assert recorded == {f"tandem:messages_park_ratio:rate{w}" for w in ("5m", "30m", "1h", "6h")}
    # Thresholds are values; a service opts out.
    tuned = render(
        deep_merge(
            load_values("all-features.yaml"), te(alerts={"outboxLag": {"thresholdSeconds": 300}})
        )
    )
    lag = next(
        r
        for g in tuned.one("PrometheusRule", f"{RELEASE}-{SERVICE}")["spec"]["groups"]
        for r in g["rules"]
        if r.get("alert") == "TandemOutboxLag"
    )
    assert lag["expr"].endswith("> 300")
    quiet = render(deep_merge(load_values("all-features.yaml"), te(alerts={"enabled": False})))
    assert quiet.of_kind("PrometheusRule") == []


def test_alerts_and_dashboards_use_metrics_the_services_export(all_features: Rendered) -> None:
    registry = CollectorRegistry()
    Metrics(registry)
    JobMetrics(registry)
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count")}
    exported = {"up"} | {
        family.name + suffix
        for family in registry.collect()
        for suffix in suffixes.get(family.type, ("",))
    }
    texts = [json.dumps(d["spec"]) for d in all_features.of_kind("PrometheusRule")]
    texts += [
        value
        for d in all_features.of_kind("ConfigMap")
        if labels(d).get("grafana_dashboard")
        for value in d["data"].values()
    ]
    used = {name for text in texts for name in re.findall(r"\b(?:tandem_[a-z_]+|up)(?=\{)", text)}
    assert {"tandem_messages_parked_total", "tandem_job_last_found"} <= used
    assert used <= exported, used - exported


def test_dashboards_ship_as_sidecar_configmaps(all_features: Rendered) -> None:
    boards = [d for d in all_features.of_kind("ConfigMap") if labels(d).get("grafana_dashboard")]
    assert len(boards) == len(list((CHART / "dashboards").glob("*.json"))) == 1
    (board,) = boards
    assert labels(board)["grafana_dashboard"] == "1"
    assert annotations_of(board)["grafana_folder"] == "Tandem"
    (text,) = board["data"].values()
    dashboard = json.loads(text)
    assert dashboard["title"] == "Tandem — services"
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    assert "tandem_service" in variables["service"]["definition"]
    panels = [p for p in dashboard["panels"] if p["type"] != "row"]
    assert {p["title"] for p in panels} >= {
        "Handled / s",
        "Parked",
        "Handler latency p50 / p99",
        "Outbox lag",
        "Intake paused",
        "Partitions owned",
        "Job runs",
    }
    for panel in panels:
        assert panel["datasource"]["uid"] == "${datasource}"
        for target in panel["targets"]:
            assert '$service"' in target["expr"], panel["title"]


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


def _two_services(project_sync_partitions: int = 8) -> dict[str, Any]:
    """all-features plus a second service: time-expense's entry copied under another name."""
    values = load_values("all-features.yaml")
    second = deep_merge(chart_defaults()["services"][SERVICE], values["services"][SERVICE])
    second.update(module="project_sync", queue="project-sync.events")
    second["partitions"] = project_sync_partitions
    second["roles"]["worker"]["keda"]["maxReplicas"] = project_sync_partitions
    values["services"]["project-sync"] = second
    return values


def test_a_second_service_gets_its_own_objects(render: Render) -> None:
    rendered = render(_two_services())
    keys = [(d["kind"], d["metadata"]["name"]) for d in rendered.docs]
    assert len(keys) == len(set(keys)), "two objects share a kind and name"
    for service in (SERVICE, "project-sync"):
        kinds = [d["kind"] for d in rendered.of_service(service)]
        assert kinds.count("Deployment") == 4
        assert kinds.count("Service") == 4
        for kind in ("ConfigMap", "Job", "ServiceMonitor", "PrometheusRule"):
            assert kinds.count(kind) == 1, (service, kind)
        assert kinds.count("NetworkPolicy") == 5
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
    worker = rendered.one("ScaledObject", f"{RELEASE}-project-sync-worker")
    assert worker["spec"]["triggers"][0]["metadata"]["queueName"].startswith(
        r"^project-sync\.events"
    )
    env = env_of(containers(deployment(rendered, "api", "project-sync"))[0])
    assert env["OTEL_SERVICE_NAME"]["value"] == "project-sync"
    assert containers(deployment(rendered, "api", "project-sync"))[0]["image"].endswith(
        "/project-sync:0.1.0-rc.1"
    )


def test_a_disabled_service_renders_nothing(render: Render) -> None:
    rendered = render(te(enabled=False))
    assert [d for d in rendered.docs if labels(d).get("tandem.io/service")] == []
    assert rendered.of_kind("NetworkPolicy") == []


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


def test_the_readme_names_the_kubernetes_versions_validated() -> None:
    readme = (CHART / "README.md").read_text()
    assert f"{OLDEST_KUBERNETES}\N{EN DASH}{NEWEST_KUBERNETES}" in readme
