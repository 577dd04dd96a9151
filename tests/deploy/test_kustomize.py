"""k8s/ builds, and what it builds is what the chart and k8s/README.md count on.

Each of the base and the dev and prod overlays is built with `kubectl kustomize`; the objects
must be there under the names the chart expects, with the node and instance counts each overlay
promises, all in the namespace `tandem`, with no secret values. Built-in kinds are checked
against the Kubernetes 1.33 schemas; custom resources (which have no schema here) are checked
field by field, including that their cross-references resolve inside the build. Each overlay's
Helm values file must fit the chart's values schema, name only Secrets that k8s/README.md tells
the operator to create, and point tracing and NetworkPolicy egress at what the overlay builds.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml  # type: ignore[import-untyped]

from tandem_testing import in_ci

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "k8s"
KUBERNETES_VERSION = "1.33"
NAMESPACE = "tandem"

# The custom resources k8s/ may use: the operators its README lists.
CUSTOM_KINDS = {
    ("rabbitmq.com/v1beta1", "RabbitmqCluster"),
    ("rabbitmq.com/v1beta1", "Vhost"),
    ("rabbitmq.com/v1beta1", "User"),
    ("rabbitmq.com/v1beta1", "Permission"),
    ("postgresql.cnpg.io/v1", "Cluster"),
    ("opentelemetry.io/v1beta1", "OpenTelemetryCollector"),
    ("keda.sh/v1alpha1", "TriggerAuthentication"),
    ("monitoring.coreos.com/v1", "ServiceMonitor"),
    ("monitoring.coreos.com/v1", "PodMonitor"),
}
CLUSTER_SCOPED = {"Namespace"}
DNS_1123 = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


@dataclass(frozen=True)
class Build:
    """One kustomization, what it promises, and the objects `kubectl kustomize` made of it."""

    path: str
    rabbitmq_nodes: int
    postgres_instances: int
    docs: tuple[dict[str, Any], ...] = ()

    def one(self, kind: str, name: str) -> dict[str, Any]:
        found = [d for d in self.docs if d["kind"] == kind and d["metadata"]["name"] == name]
        assert len(found) == 1, f"{self.path}: expected one {kind}/{name}, found {len(found)}"
        return found[0]

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [d for d in self.docs if d["kind"] == kind]


PROMISES = {
    "base": Build("base", rabbitmq_nodes=3, postgres_instances=2),
    "dev": Build("overlays/dev", rabbitmq_nodes=1, postgres_instances=1),
    "prod": Build("overlays/prod", rabbitmq_nodes=3, postgres_instances=3),
}
OVERLAYS = ("dev", "prod")


def _kubectl() -> str:
    found = shutil.which("kubectl")
    if found is None:
        reason = "kubectl is not installed: it builds k8s/ with its bundled kustomize"
        if in_ci():
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    return found


def _kustomize(kubectl: str, directory: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - kubectl on our own directories
        [kubectl, "kustomize", str(directory)], capture_output=True, text=True, check=False
    )


@pytest.fixture(scope="module")
def builds() -> dict[str, Build]:
    kubectl = _kubectl()
    built = {}
    for key, promise in PROMISES.items():
        result = _kustomize(kubectl, K8S / promise.path)
        assert result.returncode == 0, f"kubectl kustomize k8s/{promise.path}:\n{result.stderr}"
        docs = tuple(d for d in yaml.safe_load_all(result.stdout) if d is not None)
        built[key] = Build(promise.path, promise.rabbitmq_nodes, promise.postgres_instances, docs)
    return built


@pytest.fixture(params=sorted(PROMISES))
def build(request: pytest.FixtureRequest, builds: dict[str, Build]) -> Build:
    return builds[request.param]


@pytest.fixture(params=OVERLAYS)
def overlay(request: pytest.FixtureRequest, builds: dict[str, Build]) -> Build:
    return builds[request.param]


def _values(build: Build) -> dict[str, Any]:
    loaded = yaml.safe_load((K8S / build.path / "values.yaml").read_text())
    assert isinstance(loaded, dict), f"k8s/{build.path}/values.yaml is not a mapping"
    return loaded


def _documented_secrets() -> set[str]:
    # The first column of the README's table of Secrets to create.
    readme = (K8S / "README.md").read_text()
    return set(re.findall(r"^\| `([a-z0-9-]+)` \|", readme, flags=re.MULTILINE))


def test_the_namespace_enforces_the_restricted_pod_security_standard(build: Build) -> None:
    labels = build.one("Namespace", NAMESPACE)["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    assert labels["app.kubernetes.io/part-of"] == "tandem"


def test_every_namespaced_object_lands_in_tandem_and_is_labelled(build: Build) -> None:
    for doc in build.docs:
        where = f"{doc['kind']}/{doc['metadata']['name']}"
        assert doc["metadata"].get("labels", {}).get("app.kubernetes.io/part-of") == "tandem", where
        if doc["kind"] not in CLUSTER_SCOPED:
            assert doc["metadata"].get("namespace") == NAMESPACE, where


def test_no_build_ships_a_secret(build: Build) -> None:
    assert not build.of_kind("Secret"), "Secrets are made by hand (k8s/README.md), not shipped"


def test_no_file_under_k8s_holds_a_secret_value() -> None:
    # Every YAML file, built or not (a component no overlay uses, a values file).
    files = sorted(K8S.rglob("*.yaml"))
    assert files
    for path in files:
        for doc in yaml.safe_load_all(path.read_text()):
            if isinstance(doc, dict) and doc.get("kind") == "Secret":
                assert not doc.get("data"), path
                assert not doc.get("stringData"), path


def _reachable(directory: Path) -> set[Path]:
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    found = {directory / "kustomization.yaml"}
    entries = kustomization.get("resources", []) + kustomization.get("components", [])
    entries += [patch["path"] for patch in kustomization.get("patches", []) if "path" in patch]
    for entry in entries:
        target = (directory / entry).resolve()
        found |= _reachable(target) if target.is_dir() else {target}
    return found


def test_every_manifest_under_k8s_is_part_of_a_build() -> None:
    # A manifest no kustomization lists would never be applied.
    reachable = set().union(*(_reachable(K8S / p.path) for p in PROMISES.values()))
    manifests = {p.resolve() for p in K8S.rglob("*.yaml") if p.name != "values.yaml"}
    assert manifests - reachable == set()


def test_built_in_kinds_pass_the_kubernetes_schemas(build: Build) -> None:
    built_in = [d for d in build.docs if (d["apiVersion"], d["kind"]) not in CUSTOM_KINDS]
    assert build.one("Namespace", NAMESPACE) in built_in
    for doc in built_in:
        # An unknown or removed apiVersion raises too (SchemaNotFoundError): it is no typo'd CR.
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_custom_resources_have_their_identity_and_a_spec(build: Build) -> None:
    for doc in build.docs:
        if (doc["apiVersion"], doc["kind"]) in CUSTOM_KINDS:
            assert DNS_1123.match(doc["metadata"]["name"]), doc["metadata"]["name"]
            assert isinstance(doc.get("spec"), dict), doc["metadata"]["name"]
            assert doc["spec"], doc["metadata"]["name"]
            assert set(doc) <= {"apiVersion", "kind", "metadata", "spec"}, doc["metadata"]["name"]


def test_rabbitmq_has_the_consistent_hash_exchange_and_its_node_count(build: Build) -> None:
    spec = build.one("RabbitmqCluster", "tandem-rabbitmq")["spec"]
    assert spec["replicas"] == build.rabbitmq_nodes
    plugins = spec["rabbitmq"]["additionalPlugins"]
    assert "rabbitmq_consistent_hash_exchange" in plugins
    assert {"rabbitmq_management", "rabbitmq_prometheus"} <= set(plugins)
    lines = (line.partition("=") for line in spec["rabbitmq"]["additionalConfig"].splitlines())
    config = {
        key.strip(): value.strip()
        for key, _, value in lines
        if key.strip() and not key.strip().startswith("#")
    }
    assert config["cluster_partition_handling"] == "pause_minority"
    assert "disk_free_limit.absolute" in config
    assert "vm_memory_high_watermark.relative" in config


def test_the_topology_objects_point_at_the_cluster_and_at_each_other(build: Build) -> None:
    vhosts = {d["spec"]["name"] for d in build.of_kind("Vhost")}
    users = {d["metadata"]["name"] for d in build.of_kind("User")}
    assert "tandem" in vhosts
    assert {"tandem", "tandem-keda"} <= users
    for doc in build.of_kind("Vhost") + build.of_kind("User") + build.of_kind("Permission"):
        assert doc["spec"]["rabbitmqClusterReference"]["name"] == "tandem-rabbitmq"
    for permission in build.of_kind("Permission"):
        assert permission["spec"]["vhost"] in vhosts
        assert permission["spec"]["userReference"]["name"] in users
    assert build.one("Vhost", "tandem")["spec"]["defaultQueueType"] == "quorum"


def test_postgres_has_its_instance_count_and_the_tandem_database(build: Build) -> None:
    spec = build.one("Cluster", "tandem-postgres")["spec"]
    assert spec["instances"] == build.postgres_instances
    assert spec["bootstrap"]["initdb"] == {"database": "tandem", "owner": "tandem"}
    connections = int(spec["postgresql"]["parameters"]["max_connections"])
    assert connections >= 100


def _collector_targets(collector: dict[str, Any]) -> list[str]:
    config = collector["spec"]["config"]
    missing = []
    for pipeline in config["service"]["pipelines"].values():
        for section in ("receivers", "processors", "exporters"):
            missing += [
                f"{section}.{name}"
                for name in pipeline.get(section, [])
                if name not in config.get(section, {})
            ]
    missing += [
        f"extensions.{name}"
        for name in config["service"].get("extensions", [])
        if name not in config.get("extensions", {})
    ]
    return missing


def test_the_collectors_pipelines_use_only_defined_components(build: Build) -> None:
    collectors = build.of_kind("OpenTelemetryCollector")
    assert build.one("OpenTelemetryCollector", "tandem-otel") in collectors
    for collector in collectors:
        assert _collector_targets(collector) == [], collector["metadata"]["name"]


def test_the_collector_takes_otlp_http_and_exports_to_jaeger(build: Build) -> None:
    config = build.one("OpenTelemetryCollector", "tandem-otel")["spec"]["config"]
    assert config["receivers"]["otlp"]["protocols"]["http"]["endpoint"].endswith(":4318")
    traces = config["service"]["pipelines"]["traces"]
    assert traces["processors"][0] == "memory_limiter"
    jaeger = [name for name in traces["exporters"] if name.endswith("/jaeger")]
    assert len(jaeger) == 1
    assert config["exporters"][jaeger[0]]["endpoint"].startswith("jaeger-collector.")


def test_dev_exports_in_plain_text_to_its_own_jaeger(builds: dict[str, Build]) -> None:
    dev = builds["dev"]
    exporter = dev.one("OpenTelemetryCollector", "tandem-otel")["spec"]["config"]["exporters"]
    assert exporter["otlp_grpc/jaeger"]["endpoint"] == f"jaeger-collector.{NAMESPACE}.svc:4317"
    assert exporter["otlp_grpc/jaeger"]["tls"]["insecure"] is True
    # The operator names a collector's Service `<name>-collector`: the Jaeger above.
    jaeger = dev.one("OpenTelemetryCollector", "jaeger")
    assert jaeger["spec"]["image"].startswith("jaegertracing/jaeger:2.")
    assert jaeger["spec"]["config"]["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"] == (
        "0.0.0.0:4317"
    )
    for env in ("base", "prod"):
        names = {d["metadata"]["name"] for d in builds[env].of_kind("OpenTelemetryCollector")}
        assert names == {"tandem-otel"}, env
        config = builds[env].one("OpenTelemetryCollector", "tandem-otel")["spec"]["config"]
        assert config["exporters"]["otlp_grpc/jaeger"]["tls"]["insecure"] is False, env


def test_keda_authenticates_from_the_management_url_secret(build: Build) -> None:
    refs = build.one("TriggerAuthentication", "tandem-rabbitmq-management")["spec"]
    assert refs["secretTargetRef"] == [
        {"parameter": "host", "name": "tandem-rabbitmq-management", "key": "url"}
    ]


def test_prod_keeps_a_quorum_through_voluntary_disruptions(builds: dict[str, Build]) -> None:
    prod = builds["prod"]
    pdb = prod.one("PodDisruptionBudget", "tandem-rabbitmq")["spec"]
    # The RabbitMQ operator labels its pods app.kubernetes.io/name=<cluster name>.
    assert pdb["selector"] == {"matchLabels": {"app.kubernetes.io/name": "tandem-rabbitmq"}}
    assert pdb["maxUnavailable"] == 1
    postgres = prod.one("Cluster", "tandem-postgres")["spec"]
    assert postgres.get("enablePDB", True) is True
    assert postgres["postgresql"]["synchronous"] == {"method": "any", "number": 1}
    assert prod.one("OpenTelemetryCollector", "tandem-otel")["spec"]["replicas"] >= 2
    anti = prod.one("RabbitmqCluster", "tandem-rabbitmq")["spec"]["affinity"]["podAntiAffinity"]
    assert "requiredDuringSchedulingIgnoredDuringExecution" in anti
    # A single dev instance must not block node drains.
    assert builds["dev"].one("Cluster", "tandem-postgres")["spec"]["enablePDB"] is False
    assert not builds["dev"].of_kind("PodDisruptionBudget")


def test_prod_alone_has_the_prometheus_scrape_targets(builds: dict[str, Build]) -> None:
    prod = builds["prod"]
    monitor = prod.one("PodMonitor", "tandem-postgres")["spec"]
    assert monitor["selector"] == {"matchLabels": {"cnpg.io/cluster": "tandem-postgres"}}
    service = prod.one("ServiceMonitor", "tandem-rabbitmq")["spec"]
    assert service["selector"]["matchLabels"]["app.kubernetes.io/name"] == "tandem-rabbitmq"
    for env in ("base", "dev"):
        kinds = {d["apiVersion"].split("/")[0] for d in builds[env].docs}
        assert "monitoring.coreos.com" not in kinds, env


def _secret_names(values: dict[str, Any]) -> dict[str, str]:
    named = {f"global.{key}": ref["name"] for key, ref in values["global"]["secrets"].items()}
    for service, settings in values.get("services", {}).items():
        for key, ref in settings.get("secrets", {}).items():
            if key == "env":  # variable -> a key of a Secret
                named |= {f"services.{service}.env.{v}": r["name"] for v, r in ref.items()}
            else:
                named[f"services.{service}.{key}"] = ref["name"]
    return named


def test_each_values_file_names_only_documented_secrets(overlay: Build) -> None:
    values = _values(overlay)
    documented = _documented_secrets()
    assert {"tandem-broker", "tandem-auth", "tandem-postgres-app"} <= documented
    named = _secret_names(values)
    assert set(named.values()) <= documented, named
    # The database URL comes from CNPG's application Secret of the cluster built here.
    cluster = overlay.one("Cluster", "tandem-postgres")["metadata"]["name"]
    assert values["global"]["secrets"]["database"] == {"name": f"{cluster}-app", "key": "uri"}


def test_the_secrets_the_build_reads_are_documented(build: Build) -> None:
    documented = _documented_secrets()
    used = {
        ref["name"]
        for doc in build.of_kind("TriggerAuthentication")
        for ref in doc["spec"]["secretTargetRef"]
    }
    used |= {doc["spec"]["importCredentialsSecret"]["name"] for doc in build.of_kind("User")}
    assert used
    assert used <= documented, used - documented


def test_each_values_file_traces_to_the_collector_built_here(overlay: Build) -> None:
    tracing = _values(overlay)["global"]["tracing"]
    collector = overlay.one("OpenTelemetryCollector", "tandem-otel")["metadata"]["name"]
    assert tracing["enabled"] is True
    assert tracing["endpoint"] == f"http://{collector}-collector.{NAMESPACE}.svc:4318"


def test_each_values_file_lets_pods_reach_only_the_pods_built_here(overlay: Build) -> None:
    # Peers by the labels the operators put on their pods: CNPG's cnpg.io/cluster, and
    # app.kubernetes.io/name (RabbitMQ: the cluster's name; OpenTelemetry: <name>-collector).
    postgres = overlay.one("Cluster", "tandem-postgres")["metadata"]["name"]
    rabbitmq = overlay.one("RabbitmqCluster", "tandem-rabbitmq")["metadata"]["name"]
    collector = overlay.one("OpenTelemetryCollector", "tandem-otel")["metadata"]["name"]
    expected = {
        "database": {"cnpg.io/cluster": postgres},
        "broker": {"app.kubernetes.io/name": rabbitmq},
        "tracing": {"app.kubernetes.io/name": f"{collector}-collector"},
        "brokerManagement": {"app.kubernetes.io/name": rabbitmq},
    }
    policy = _values(overlay)["global"]["networkPolicy"]
    for egress, labels in expected.items():
        assert policy[egress]["to"] == [{"podSelector": {"matchLabels": labels}}], egress


def _merged(defaults: Any, override: Any) -> Any:
    # Helm's merge of a values file over the chart's defaults: maps merge, the rest replaces.
    if isinstance(defaults, dict) and isinstance(override, dict):
        merged = dict(defaults)
        for key, value in override.items():
            merged[key] = _merged(defaults.get(key), value)
        return merged
    return override


def test_each_values_file_fits_the_charts_schema(overlay: Build) -> None:
    chart = ROOT / "charts" / "tandem"
    if not (chart / "values.schema.json").exists():
        reason = "charts/tandem/values.schema.json is missing: nothing to check the values against"
        if in_ci():
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    schema = json.loads((chart / "values.schema.json").read_text())
    defaults = yaml.safe_load((chart / "values.yaml").read_text())
    jsonschema.validate(_merged(defaults, _values(overlay)), schema)
