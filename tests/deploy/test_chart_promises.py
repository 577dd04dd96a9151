"""Each promise of charts/tandem's README about its pods holds on what the chart renders.

Probes, each role's command and worker roles, images, OpenTelemetry variables, the migration
hook, network policies, secrets by reference only, hardened pods, config checksums and
selectors on immutable labels. Replicas, PDBs, partitions and autoscalers are in
test_chart_scaling.py. The fixtures are in conftest.py.
"""

from __future__ import annotations

import json
import re
from typing import Any

from .chart_support import (
    BILLING_READINESS,
    DATABASE_SECRETS,
    IMMUTABLE_LABELS,
    RELEASE,
    SECOND_SERVICES,
    SERVICE,
    SERVICES,
    WITH_SYSTEMS,
    Render,
    Rendered,
    annotations_of,
    containers,
    deployment,
    env_entries,
    env_of,
    labels,
    load_values,
    only,
    pod_template,
    role,
    role_count,
    roles_of,
    selects,
    te,
    worker_roles,
)


def egress_ports(policy: dict[str, Any]) -> set[int]:
    return {port["port"] for rule in policy["spec"].get("egress", []) for port in rule["ports"]}


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
    for service in SERVICES:
        for role_name in roles_of(service):
            expected = worker_roles(service, role_name)
            (container,) = containers(deployment(defaults, role_name, service))
            args = ["api"] if expected is None else ["worker"]
            assert container["args"] == args, (service, role_name)
            env = env_of(container)
            if expected is None:
                assert "TANDEM_WORKER_ROLES" not in env, (service, role_name)
            else:
                actual = json.loads(env["TANDEM_WORKER_ROLES"]["value"])
                assert actual == list(expected), (service, role_name)
    # billing-readiness polls nothing: its ingest role only runs the periodic jobs.
    (ingest,) = containers(deployment(defaults, "ingest", BILLING_READINESS))
    assert json.loads(env_of(ingest)["TANDEM_WORKER_ROLES"]["value"]) == ["schedule"]


def test_images_follow_registry_repository_service_tag(
    render: Render, defaults: Rendered, all_features: Rendered
) -> None:
    def images(rendered: Rendered) -> set[str]:
        return {c["image"] for w in rendered.workloads() for c in containers(w)}

    assert images(defaults) == {f"tandem/{service}:0.1.0" for service in SERVICES}
    assert images(all_features) == {
        f"registry.example.com:5000/tandem/apps/{service}:0.1.0-rc.1" for service in SERVICES
    }
    # A service's own image overrides change its pods only.
    overridden = render(te(image={"repository": "acme", "tag": "0.2.0"}))
    assert images(overridden) == {
        "acme/time-expense:0.2.0",
        *(f"tandem/{service}:0.1.0" for service in SECOND_SERVICES),
    }
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
    named = set()
    for workload in render({"global": {"tracing": {"enabled": False}}}).of_kind("Deployment"):
        env = env_of(containers(workload)[0])
        assert env["OTEL_SDK_DISABLED"]["value"] == "true"
        assert "OTEL_EXPORTER_OTLP_ENDPOINT" not in env
        assert env["OTEL_SERVICE_NAME"]["value"] == labels(workload)["tandem.io/service"]
        named.add(env["OTEL_SERVICE_NAME"]["value"])
    assert named == set(SERVICES)


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
    # The second services' migrations read their own databases.
    for service in SECOND_SERVICES:
        second = env_of(containers(defaults.one("Job", f"{RELEASE}-{service}-migrate"))[0])
        assert second["TANDEM_DATABASE_URL"]["valueFrom"]["secretKeyRef"]["name"] == (
            f"{service}-database"
        )
    # Turned off, no Job and no hook account (the other services keep their own).
    off = render(te(migrations={"enabled": False}))
    assert off.names("Job") == {f"{RELEASE}-{service}-migrate" for service in SECOND_SERVICES}
    assert f"{RELEASE}-{SERVICE}-migrate" not in off.names("ServiceAccount")
    for service in SECOND_SERVICES:
        assert f"{RELEASE}-{service}-migrate" in off.names("ServiceAccount")


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
    # A role that only schedules still calls them: billing-readiness's jobs invoice in its ERP.
    scheduler = defaults.one("NetworkPolicy", f"{RELEASE}-{BILLING_READINESS}-ingest")
    assert egress_ports(scheduler) == {53, 5432, 5672, 4318, 443}
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
    # One database per service: the second services' own, time-expense the global one.
    databases = DATABASE_SECRETS
    assert databases[BILLING_READINESS] == "billing-readiness-database"
    for workload in rendered.workloads():
        service = labels(workload)["tandem.io/service"]
        for container in containers(workload):
            env = env_of(container)
            assert env["TANDEM_DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {
                "name": databases[service],
                "key": "url",
            }
            sources = container["envFrom"]
            assert {"secretRef": {"name": "tandem-auth"}} in sources
            own = {"secretRef": {"name": f"{service}-systems"}}
            assert (own in sources) is (service in WITH_SYSTEMS), (service, sources)
            for other in (s for s in SERVICES if s != service):
                assert {"secretRef": {"name": f"{other}-systems"}} not in sources
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
        service = labels(workload)["tandem.io/service"]
        name = "time-expense-db" if service == SERVICE else databases[service]
        assert ref["secretKeyRef"] == {"name": name, "key": "url"}


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

    def of(service: str, sums: dict[str, str]) -> dict[str, str]:
        return {k: v for k, v in sums.items() if k.startswith(f"{RELEASE}-{service}-")}

    before = checksums(defaults)
    assert len(before) == role_count()
    # One checksum per service: its own ConfigMap's.
    for service in SERVICES:
        assert len(of(service, before)) == len(roles_of(service))
        assert len(set(of(service, before).values())) == 1
    assert len(set(before.values())) == len(SERVICES)
    assert all(re.fullmatch(r"[0-9a-f]{64}", value) for value in before.values())
    assert checksums(render()) == before
    assert checksums(render(role("api", replicas=3))) == before
    # A service's config change rolls its pods, and not the other services'.
    changed = checksums(render(te(env={"TANDEM_TENANT_ID": "globex"})))
    assert set(changed) == set(before)
    assert all(changed[name] != before[name] for name in of(SERVICE, before))
    for service in SECOND_SERVICES:
        assert of(service, changed) == of(service, before)
    for service in SECOND_SERVICES:
        resized = checksums(render(only(service, partitions=16)))
        assert all(resized[name] != before[name] for name in of(service, before)), service
        for other in (s for s in SERVICES if s != service):
            assert of(other, resized) == of(other, before), (service, other)


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
