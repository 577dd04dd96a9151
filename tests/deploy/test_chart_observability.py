"""What charts/tandem gives observability to read the release, and nothing more.

A Role that only reads deployments, replicasets and pods, bound to observability's own
ServiceAccount alone; an API token in its api pods only; its namespace and trace links as
settings; its sources (the broker's management API, the parking lots) from a Secret; and the
network paths to what it reads, from its api only. The fixtures are in conftest.py.
"""

from __future__ import annotations

from typing import Any

from .chart_support import (
    NAMESPACE,
    OBSERVABILITY,
    RELEASE,
    SERVICES,
    Render,
    Rendered,
    containers,
    deep_merge,
    deployment,
    env_of,
    labels,
    load_values,
    only,
    pod_template,
)

ACCOUNT = f"{RELEASE}-{OBSERVABILITY}"
READS = {("apps", "deployments"), ("apps", "replicasets"), ("", "pods")}
READ_VERBS = {"get", "list", "watch"}
# What a read-only Role must never grant.
FORBIDDEN_VERBS = {
    "create", "update", "patch", "delete", "deletecollection", "escalate", "bind",
    "impersonate", "*",
}  # fmt: skip
TOKEN_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"


def _grants(role: dict[str, Any]) -> set[tuple[str, str, str]]:
    return {
        (group, resource, verb)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


def _token_volume(workload: dict[str, Any]) -> dict[str, Any] | None:
    volumes = {v["name"]: v for v in pod_template(workload)["spec"]["volumes"]}
    return volumes.get("kube-api-access")


# --- RBAC ---------------------------------------------------------------------------------


def test_the_role_only_reads_workloads(rendered: Rendered) -> None:
    (role,) = rendered.of_kind("Role")
    assert role["metadata"] == role["metadata"] | {"name": ACCOUNT, "namespace": NAMESPACE}
    assert _grants(role) == {(g, r, v) for g, r in READS for v in READ_VERBS}
    for rule in role["rules"]:
        # No resourceNames or nonResourceURLs tricks: exactly these three keys.
        assert set(rule) == {"apiGroups", "resources", "verbs"}
        assert not set(rule["verbs"]) & FORBIDDEN_VERBS
        assert "secrets" not in rule["resources"]
        assert not any("*" in item or "/" in item for item in rule["resources"])
    # Namespaced only: nothing cluster-wide.
    assert rendered.of_kind("ClusterRole") == rendered.of_kind("ClusterRoleBinding") == []


def test_the_role_is_bound_to_observabilitys_account_alone(rendered: Rendered) -> None:
    (binding,) = rendered.of_kind("RoleBinding")
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": ACCOUNT,
    }
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": ACCOUNT, "namespace": NAMESPACE}
    ]
    account = rendered.one("ServiceAccount", ACCOUNT)
    assert labels(account)["tandem.io/service"] == OBSERVABILITY
    # Its pods run as it; no other pod (nor observability's migration) does.
    for workload in rendered.workloads():
        used = pod_template(workload)["spec"]["serviceAccountName"]
        mine = labels(workload)["tandem.io/service"] == OBSERVABILITY
        assert (used == ACCOUNT) is (mine and workload["kind"] == "Deployment"), used


def test_only_observabilitys_api_pods_hold_an_api_token(rendered: Rendered) -> None:
    holders = set()
    for workload in rendered.workloads():
        spec = pod_template(workload)["spec"]
        assert spec["automountServiceAccountToken"] is False
        volume = _token_volume(workload)
        mounts = {m["mountPath"]: m for c in containers(workload) for m in c["volumeMounts"]}
        assert (volume is None) is (TOKEN_PATH not in mounts)
        if volume is not None:
            holders.add(workload["metadata"]["name"])
            assert mounts[TOKEN_PATH]["readOnly"] is True
            token, ca, namespace = volume["projected"]["sources"]
            # Bound to the pod, expiring within about an hour and rotated by the kubelet.
            assert token["serviceAccountToken"]["expirationSeconds"] <= 3607
            assert ca["configMap"]["name"] == "kube-root-ca.crt"
            assert namespace["downwardAPI"]["items"][0]["fieldRef"]["fieldPath"] == (
                "metadata.namespace"
            )
    assert holders == {f"{RELEASE}-{OBSERVABILITY}-api"}


def test_the_rbac_follows_the_service(render: Render) -> None:
    gone = render(only(OBSERVABILITY, enabled=False))
    assert gone.of_kind("Role") == gone.of_kind("RoleBinding") == []
    assert gone.of_service(OBSERVABILITY) == []
    blind = render(only(OBSERVABILITY, observes={"workloads": False}))
    assert blind.of_kind("Role") == blind.of_kind("RoleBinding") == []
    assert _token_volume(deployment(blind, "api", OBSERVABILITY)) is None
    config = blind.one("ConfigMap", f"{RELEASE}-{OBSERVABILITY}-env")["data"]
    assert "TANDEM_KUBERNETES_NAMESPACE" not in config
    # An account of its own, named rather than created: the binding names that one.
    named = render(only(OBSERVABILITY, serviceAccount={"create": False, "name": "fleet-reader"}))
    (binding,) = named.of_kind("RoleBinding")
    assert binding["subjects"][0]["name"] == "fleet-reader"


# --- settings -----------------------------------------------------------------------------


def test_it_is_told_the_release_namespace(chart: Any) -> None:
    staging = Rendered.of(chart.render({}, name=RELEASE, namespace="tandem-staging"))
    config = staging.one("ConfigMap", f"{RELEASE}-{OBSERVABILITY}-env")["data"]
    assert config["TANDEM_KUBERNETES_NAMESPACE"] == "tandem-staging"
    (role,) = staging.of_kind("Role")
    assert role["metadata"]["namespace"] == "tandem-staging"
    for service in (s for s in SERVICES if s != OBSERVABILITY):
        other = staging.one("ConfigMap", f"{RELEASE}-{service}-env")["data"]
        assert "TANDEM_KUBERNETES_NAMESPACE" not in other, service


def test_trace_links_are_given_when_a_template_is(
    defaults: Rendered, all_features: Rendered
) -> None:
    def config(rendered: Rendered, service: str) -> dict[str, str]:
        found: dict[str, str] = rendered.one("ConfigMap", f"{RELEASE}-{service}-env")["data"]
        return found

    template = load_values("all-features.yaml")["global"]["tracing"]["traceUrlTemplate"]
    assert config(all_features, OBSERVABILITY)["TANDEM_TRACE_URL_TEMPLATE"] == template
    assert "TANDEM_TRACE_URL_TEMPLATE" not in config(defaults, OBSERVABILITY)
    for service in (s for s in SERVICES if s != OBSERVABILITY):
        assert "TANDEM_TRACE_URL_TEMPLATE" not in config(all_features, service), service


def test_its_sources_come_from_a_secret(defaults: Rendered, render: Render) -> None:
    expected = {
        "TANDEM_RABBITMQ_MANAGEMENT_URL": "rabbitmq-management-url",
        "TANDEM_PARKING_LOTS": "parking-lots",
    }
    for workload in defaults.workloads():
        service = labels(workload)["tandem.io/service"]
        for container in containers(workload):
            env = env_of(container)
            running = service == OBSERVABILITY and workload["kind"] == "Deployment"
            for variable, key in expected.items():
                if running:
                    assert env[variable]["valueFrom"]["secretKeyRef"] == {
                        "name": "observability-sources",
                        "key": key,
                    }
                else:  # other services, and the migration, which reads neither
                    assert variable not in env, (workload["metadata"]["name"], variable)
    # A variable set to null is left out.
    without = render(only(OBSERVABILITY, secrets={"env": {"TANDEM_PARKING_LOTS": None}}))
    env = env_of(containers(deployment(without, "api", OBSERVABILITY))[0])
    assert "TANDEM_PARKING_LOTS" not in env
    assert "TANDEM_RABBITMQ_MANAGEMENT_URL" in env


# --- network ------------------------------------------------------------------------------


def _egress(rendered: Rendered, name: str) -> dict[frozenset[int], list[dict[str, Any]]]:
    policy = rendered.one("NetworkPolicy", f"{RELEASE}-{name}")
    return {
        frozenset(p["port"] for p in rule["ports"]): rule.get("to", [])
        for rule in policy["spec"]["egress"]
    }


def test_its_api_alone_reaches_what_it_reads(all_features: Rendered) -> None:
    api = _egress(all_features, f"{OBSERVABILITY}-api")
    assert api[frozenset({443, 6443})] == [{"ipBlock": {"cidr": "10.96.0.1/32"}}]
    assert api[frozenset({15672})] == [
        {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "tandem-rabbitmq"}}}
    ]
    assert api[frozenset({8000})] == [
        {"podSelector": {"matchLabels": {
            "app.kubernetes.io/instance": RELEASE, "app.kubernetes.io/part-of": "tandem"}}}
    ]  # fmt: skip
    worker = _egress(all_features, f"{OBSERVABILITY}-worker")
    assert set().union(*worker) == {53, 5432, 5672, 5671, 4318}
    for service in (s for s in SERVICES if s != OBSERVABILITY):
        ports = set().union(*_egress(all_features, f"{service}-api"))
        assert not ports & {6443, 15672, 8000}, service


def test_the_apis_admit_it_where_their_callers_are_narrowed(
    defaults: Rendered, all_features: Rendered, render: Render
) -> None:
    caller = {"podSelector": {"matchLabels": {
        "app.kubernetes.io/instance": RELEASE, "tandem.io/service": OBSERVABILITY}}}  # fmt: skip
    for service in SERVICES:
        narrowed = all_features.one("NetworkPolicy", f"{RELEASE}-{service}-api")["spec"]
        assert {"ports": [{"port": "http", "protocol": "TCP"}], "from": [caller]} in (
            narrowed["ingress"]
        ), service
        # Open to anyone already: no rule of its own.
        open_ = defaults.one("NetworkPolicy", f"{RELEASE}-{service}-api")["spec"]
        assert not any(caller in rule.get("from", []) for rule in open_["ingress"]), service
    # Without observability, a narrowed api admits only its callers.
    values = deep_merge(load_values("all-features.yaml"), only(OBSERVABILITY, enabled=False))
    alone = render(values).one("NetworkPolicy", f"{RELEASE}-time-expense-api")["spec"]
    assert not any(caller in rule.get("from", []) for rule in alone["ingress"])
