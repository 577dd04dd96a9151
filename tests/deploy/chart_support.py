"""Rendering charts/tandem offline and reading what it renders (helpers of test_chart_*.py)."""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest
import yaml  # type: ignore[import-untyped]

from tandem_testing import in_ci

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "tandem"
VALUES = Path(__file__).resolve().parent / "values"
CHECKOV = ROOT / ".tandem" / "tools" / "checkov" / "bin" / "checkov"
CHECKOV_CONFIG = CHART / "checkov.yaml"
RELEASE = "tandem"
NAMESPACE = "tandem"
SERVICE = "time-expense"
PROJECT_SYNC = "project-sync"
STAFFING_SYNC = "staffing-sync"
BILLING_READINESS = "billing-readiness"
OBSERVABILITY = "observability"
# The services the defaults install, and their consumer queues.
SERVICES = (SERVICE, PROJECT_SYNC, STAFFING_SYNC, BILLING_READINESS, OBSERVABILITY)
QUEUES = {
    SERVICE: "time-expense.postings",
    PROJECT_SYNC: "project-sync.quote-to-cash",
    STAFFING_SYNC: "staffing-sync.hire-to-deploy",
    BILLING_READINESS: "billing-readiness.charges",
    OBSERVABILITY: "observability.timelines",
}
# The services beside time-expense: their own database Secret, no `reconcile` job.
SECOND_SERVICES = (PROJECT_SYNC, STAFFING_SYNC, BILLING_READINESS, OBSERVABILITY)
# The services with systems of record (a `<service>-systems` Secret): all but observability,
# which reads the bus, the services' APIs, the broker and the cluster.
WITH_SYSTEMS = (SERVICE, PROJECT_SYNC, STAFFING_SYNC, BILLING_READINESS)
# The database Secret each service reads: time-expense the global one, the others their own.
DATABASE_SECRETS = {SERVICE: "tandem-database"} | {s: f"{s}-database" for s in SECOND_SERVICES}
# A service's roles by default...
ROLES = ("api", "worker", "ingest", "relay")
# ...but observability's: the api, and one worker that consumes, schedules and relays.
SERVICE_ROLES: dict[str, tuple[str, ...]] = {OBSERVABILITY: ("api", "worker")}
# What each role runs by default (TANDEM_WORKER_ROLES; None: the api, which has none)...
WORKER_ROLES: dict[str, tuple[str, ...] | None] = {
    "api": None,
    "worker": ("consume",),
    "ingest": ("ingest", "schedule"),
    "relay": ("relay",),
}
# ...and where a service differs: billing-readiness polls no system (everything comes from the
# bus), so its ingest role runs the periodic jobs only; observability's one worker does it all.
SERVICE_WORKER_ROLES: dict[str, dict[str, tuple[str, ...] | None]] = {
    BILLING_READINESS: {"ingest": ("schedule",)},
    OBSERVABILITY: {"worker": ("consume", "schedule", "relay")},
}

# Labels that never change for the life of a workload: the only ones a selector may use.
IMMUTABLE_LABELS = frozenset(
    {
        "app.kubernetes.io/name",
        "app.kubernetes.io/instance",
        "app.kubernetes.io/component",
        "tandem.io/service",
    }
)
WORKLOAD_KINDS = frozenset({"Deployment", "Job"})


def missing_tool(reason: str) -> None:
    """Skip the test for a missing tool here; in CI (CI=true) fail it instead."""
    if in_ci():
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


def promtool() -> str:
    """The ``promtool`` command (Debian's prometheus), or a skip here and a failure in CI."""
    found = shutil.which("promtool")
    if found is None:
        missing_tool(
            "promtool is not installed (tools/setup.sh deploy installs Debian's prometheus)"
        )
    assert found is not None
    return found


def deep_merge(base: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    """Return ``base`` with ``patch`` merged in, maps recursively (the inputs are not changed)."""
    merged = copy.deepcopy(dict(base))
    for key, value in patch.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def load_values(name: str | Path) -> dict[str, Any]:
    """A values file: a name in tests/deploy/values, or a path."""
    loaded: dict[str, Any] = yaml.safe_load((VALUES / name).read_text())
    return loaded


def chart_defaults() -> dict[str, Any]:
    """The chart's own values.yaml."""
    loaded: dict[str, Any] = yaml.safe_load((CHART / "values.yaml").read_text())
    return loaded


@dataclass(frozen=True)
class Rendered:
    """The objects one render made, hooks included, in template order."""

    docs: tuple[dict[str, Any], ...]

    @classmethod
    def of(cls, manifests: Mapping[str, str]) -> Rendered:
        docs = [
            doc
            for path, text in sorted(manifests.items())
            if path.endswith((".yaml", ".yml"))
            for doc in yaml.safe_load_all(text)
            if doc
        ]
        return cls(tuple(docs))

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [doc for doc in self.docs if doc["kind"] == kind]

    def one(self, kind: str, name: str) -> dict[str, Any]:
        found = [doc for doc in self.of_kind(kind) if doc["metadata"]["name"] == name]
        assert len(found) == 1, f"{len(found)} {kind} named {name}"
        return found[0]

    def names(self, kind: str) -> set[str]:
        return {doc["metadata"]["name"] for doc in self.of_kind(kind)}

    def of_service(self, service: str) -> list[dict[str, Any]]:
        return [doc for doc in self.docs if labels(doc).get("tandem.io/service") == service]

    def workloads(self) -> list[dict[str, Any]]:
        return [doc for doc in self.docs if doc["kind"] in WORKLOAD_KINDS]

    def yaml(self) -> str:
        dumped: str = yaml.safe_dump_all(self.docs, sort_keys=False)
        return dumped


# The `render` fixture: values (and a release name) → what the chart renders.
Render = Callable[..., Rendered]


def labels(doc: Mapping[str, Any]) -> dict[str, str]:
    found: dict[str, str] = doc["metadata"].get("labels") or {}
    return found


def annotations_of(doc: Mapping[str, Any]) -> dict[str, str]:
    found: dict[str, str] = doc["metadata"].get("annotations") or {}
    return found


def pod_template(workload: Mapping[str, Any]) -> dict[str, Any]:
    template: dict[str, Any] = workload["spec"]["template"]
    return template


def containers(workload: Mapping[str, Any]) -> list[dict[str, Any]]:
    spec = pod_template(workload)["spec"]
    found: list[dict[str, Any]] = spec.get("initContainers", []) + spec["containers"]
    return found


def env_of(container: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """A container's env entries by name (each entry as written: value or valueFrom)."""
    return {entry["name"]: entry for entry in container.get("env", [])}


def resolved_env(
    container: Mapping[str, Any], rendered: Rendered
) -> dict[str, str | dict[str, Any]]:
    """What the container's environment holds: its ConfigMaps' data under its own env.

    Plain values are strings; values from elsewhere (Secret keys, the downward API) are left
    as their ``valueFrom``. Secrets loaded with envFrom are not known here.
    """
    resolved: dict[str, str | dict[str, Any]] = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            config_map = rendered.one("ConfigMap", source["configMapRef"]["name"])
            resolved.update(config_map.get("data") or {})
    for name, entry in env_of(container).items():
        resolved[name] = entry["value"] if "value" in entry else entry["valueFrom"]
    return resolved


def selects(selector: Mapping[str, str], target: Mapping[str, str]) -> bool:
    """Whether a matchLabels selector selects an object with ``target`` labels."""
    return all(target.get(key) == value for key, value in selector.items())


# Custom resources have no schema in kubernetes-validate: these are the fields the operators
# (Prometheus operator, KEDA) need, and the shapes the chart promises.
_NAME = {"type": "string", "pattern": "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", "maxLength": 63}
_METADATA = {
    "type": "object",
    "required": ["name", "namespace", "labels"],
    "properties": {"name": _NAME, "namespace": {"const": NAMESPACE}},
}
_RULE = {
    "type": "object",
    "required": ["expr"],
    "oneOf": [
        {"required": ["record"], "not": {"required": ["alert"]}},
        {
            "required": ["alert", "labels", "annotations"],
            "properties": {
                "labels": {"required": ["severity", "service"]},
                "annotations": {"required": ["summary", "description", "runbook_url"]},
                "for": {"type": "string", "pattern": "^([0-9]+(ms|s|m|h|d|w|y))+$"},
            },
        },
    ],
    "properties": {"expr": {"type": "string", "minLength": 1}},
}
CUSTOM_RESOURCES: dict[tuple[str, str], dict[str, Any]] = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"): {
        "type": "object",
        "required": ["metadata", "spec"],
        "properties": {
            "metadata": _METADATA,
            "spec": {
                "type": "object",
                "required": ["selector", "endpoints"],
                "properties": {
                    "selector": {"required": ["matchLabels"]},
                    "endpoints": {
                        "type": "array",
                        "minItems": 1,
                        "items": {"required": ["port", "path", "interval"]},
                    },
                },
            },
        },
    },
    ("monitoring.coreos.com/v1", "PrometheusRule"): {
        "type": "object",
        "required": ["metadata", "spec"],
        "properties": {
            "metadata": _METADATA,
            "spec": {
                "type": "object",
                "required": ["groups"],
                "properties": {
                    "groups": {
                        "type": "array",
                        "minItems": 1,
                        "items": {
                            "type": "object",
                            "required": ["name", "rules"],
                            "properties": {
                                "rules": {"type": "array", "minItems": 1, "items": _RULE}
                            },
                        },
                    }
                },
            },
        },
    },
    ("keda.sh/v1alpha1", "ScaledObject"): {
        "type": "object",
        "required": ["metadata", "spec"],
        "properties": {
            "metadata": _METADATA,
            "spec": {
                "type": "object",
                "required": ["scaleTargetRef", "minReplicaCount", "maxReplicaCount", "triggers"],
                "properties": {
                    "scaleTargetRef": {
                        "required": ["name"],
                        "properties": {"kind": {"const": "Deployment"}},
                    },
                    "minReplicaCount": {"type": "integer", "minimum": 0},
                    "maxReplicaCount": {"type": "integer", "minimum": 1},
                    "triggers": {
                        "type": "array",
                        "minItems": 1,
                        "items": {
                            "type": "object",
                            "required": ["type", "metadata", "authenticationRef"],
                            "properties": {
                                "metadata": {"additionalProperties": {"type": "string"}},
                                "authenticationRef": {"required": ["name"]},
                            },
                        },
                    },
                },
            },
        },
    },
}


def check_custom_resource(doc: Mapping[str, Any]) -> None:
    """Raise jsonschema.ValidationError unless ``doc`` has what its operator needs."""
    schema = CUSTOM_RESOURCES[(doc["apiVersion"], doc["kind"])]
    jsonschema.validate(doc, schema)


def is_custom(doc: Mapping[str, Any]) -> bool:
    return (doc["apiVersion"], doc["kind"]) in CUSTOM_RESOURCES


def checkov_command(rendered_file: Path) -> list[str]:
    if not CHECKOV.exists():
        missing_tool(f"checkov is not installed at {CHECKOV.relative_to(ROOT)}")
    return [
        str(CHECKOV),
        "--framework",
        "kubernetes",
        "-f",
        str(rendered_file),
        "--config-file",
        str(CHECKOV_CONFIG),
        "-o",
        "json",
    ]


def start_checkov(rendered: Rendered, rendered_file: Path) -> subprocess.Popen[str]:
    """Write ``rendered`` to ``rendered_file`` and start checkov on it (in the background)."""
    command = checkov_command(rendered_file)
    rendered_file.write_text(rendered.yaml())
    return subprocess.Popen(  # noqa: S603 - checkov on a file of the test's own
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT
    )


@dataclass(frozen=True)
class CheckovReport:
    """What checkov found: check id → resources that passed, and that failed."""

    passed: dict[str, list[str]]
    failed: dict[str, list[str]]

    @classmethod
    def of(cls, process: subprocess.Popen[str]) -> CheckovReport:
        stdout, stderr = process.communicate(timeout=300)
        assert stdout.strip(), f"checkov printed no report (exit {process.returncode}): {stderr}"
        report = json.loads(stdout)
        reports = report if isinstance(report, list) else [report]
        passed: dict[str, list[str]] = {}
        failed: dict[str, list[str]] = {}
        for one in reports:
            for result, into in (("passed_checks", passed), ("failed_checks", failed)):
                for check in one.get("results", {}).get(result, []):
                    into.setdefault(check["check_id"], []).append(check["resource"])
        return cls(passed, failed)


def checkov_policy() -> tuple[list[str], list[str]]:
    """The checks charts/tandem/checkov.yaml enforces, and those it skips."""
    config = yaml.safe_load(CHECKOV_CONFIG.read_text())
    return list(config["check"]), list(config["skip-check"])


def env_entries(rendered: Rendered) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every env entry of every container: (workload/container, entry)."""
    for workload in rendered.workloads():
        for container in containers(workload):
            for entry in container.get("env", []):
                yield f"{workload['metadata']['name']}/{container['name']}", entry


# Values and objects of the services the defaults install.


def only(name: str, **service: Any) -> dict[str, Any]:
    """Values that change the service ``name`` only."""
    return {"services": {name: service}}


def te(**service: Any) -> dict[str, Any]:
    """Values that change time-expense only."""
    return only(SERVICE, **service)


def role(name: str, **values: Any) -> dict[str, Any]:
    return te(roles={name: values})


def roles_of(service: str) -> tuple[str, ...]:
    """The roles ``service`` runs by default."""
    return SERVICE_ROLES.get(service, ROLES)


def role_count() -> int:
    """How many Deployments the defaults make, over every service."""
    return sum(len(roles_of(service)) for service in SERVICES)


def worker_roles(service: str, role_name: str) -> tuple[str, ...] | None:
    """The worker roles ``service``'s role ``role_name`` runs by default (None: the api)."""
    return SERVICE_WORKER_ROLES.get(service, {}).get(role_name, WORKER_ROLES[role_name])


def deployment(rendered: Rendered, role_name: str, service: str = SERVICE) -> dict[str, Any]:
    return rendered.one("Deployment", f"{RELEASE}-{service}-{role_name}")


def second_services(partitions: Mapping[str, int] | None = None) -> dict[str, Any]:
    """all-features with the second services' partitions (8 unless given, by service) and
    KEDA ceilings set."""
    values = load_values("all-features.yaml")
    given = partitions or {}
    for name in SECOND_SERVICES:
        second = values["services"][name]
        second["partitions"] = given.get(name, 8)
        keda = second["roles"]["worker"]["keda"]
        keda["maxReplicas"] = min(keda["maxReplicas"], second["partitions"])
        keda["minReplicas"] = min(keda["minReplicas"], keda["maxReplicas"])
    return values
