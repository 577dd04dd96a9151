"""The chart's time-expense Deployments, as rendered, come up under ``podman kube play``.

No Kubernetes API server can run here, so this is a smoke test of what the chart renders:
the ConfigMap and the four Deployments (api, worker, ingest, relay) of time-expense, with the
hardened pod and container security contexts, the settings and secrets read by reference
(made as podman secrets, as an operator makes Kubernetes Secrets) and the image built by
``docker/images.sh``, against the local RabbitMQ and PostgreSQL. The adaptations are this
host's, not the chart's: the pods share the host's network (no cluster network here), so each
gets ports of its own (in its env, not the shared ConfigMap, since podman lets envFrom win),
and its named container ports (which podman would publish) become the numbers its probes
use; the node and the namespace, which podman 4.3's downward API lacks, are literals.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml  # type: ignore[import-untyped]

from tandem_sandbox import Sandbox
from tandem_testing import PodmanApi, eventually, free_port
from time_expense.service_layer.handlers import QUEUE

from .harness import API_KEY, Deployment

CHART = Path(__file__).resolve().parents[2] / "charts" / "tandem"
# Downward-API fields podman 4.3 cannot give, and what stands in for them here.
_NOT_IN_PODMAN = {"spec.nodeName": "podman-host", "metadata.namespace": "tandem"}
ROLES = ("api", "worker", "ingest", "relay")


class Podman:
    """podman's command line with the repository's containers.conf; what a test played and
    which secrets it made, for the fixture to remove."""

    def __init__(self, engine: PodmanApi) -> None:
        found = shutil.which("podman")
        assert found is not None, "podman_api started podman, so it is on PATH"
        self.path = found
        self.env = dict(os.environ)
        if engine.containers_conf:
            self.env["CONTAINERS_CONF"] = engine.containers_conf
        self.played: list[Path] = []
        self.secrets: list[str] = []
        self.releases: list[str] = []

    def __call__(self, *args: str, check: bool = True) -> str:
        done = subprocess.run(  # noqa: S603 - podman with the test's own arguments
            [self.path, *args], env=self.env, capture_output=True, text=True, timeout=180,
            check=False,
        )  # fmt: skip
        if check:
            assert done.returncode == 0, f"podman {' '.join(args)}: {done.stderr[-2000:]}"
        return done.stdout


@pytest.fixture
def podman(podman_api: PodmanApi) -> Iterator[Podman]:
    """podman, and at the end the removal of the pods and secrets a test played or made."""
    cli = Podman(podman_api)
    yield cli
    for file in cli.played:
        cli("kube", "down", str(file), check=False)
    # A play that failed halfway leaves pods kube down does not know: remove them by name.
    for pod in cli("pod", "ps", "--format", "{{.Name}}", check=False).split():
        if any(pod.startswith(f"{release}-") for release in cli.releases):
            cli("pod", "rm", "--force", pod, check=False)
    for name in cli.secrets:
        cli("secret", "rm", name, check=False)


def _render(release: str, values: dict[str, Any]) -> list[dict[str, Any]]:
    import helm_python

    helm_python.dependency_update(str(CHART))
    chart = helm_python.Chart.load(str(CHART))
    manifests = chart.render(values, name=release, namespace="tandem")
    return [
        doc
        for path, text in sorted(manifests.items())
        if path.endswith(".yaml")
        for doc in yaml.safe_load_all(text)
        if doc
    ]


def _on_this_host(deployment: dict[str, Any], ports: dict[str, str]) -> dict[str, Any]:
    """The Deployment on the host's network with ``ports``; downward fields podman lacks as
    literals."""
    spec = deployment["spec"]["template"]["spec"]
    spec["hostNetwork"] = True
    for container in spec["containers"]:
        named = {port.pop("name"): port for port in container.pop("ports")}
        port = int(ports.get("TANDEM_HTTP_PORT", ports["TANDEM_WORKER_HTTP_PORT"]))
        for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
            get = container[probe]["httpGet"]
            assert get["port"] in named, f"{probe} names a port the container declares"
            get["port"] = port
        env = [entry for entry in container.get("env", []) if entry["name"] not in ports]
        for entry in env:
            field = entry.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath")
            if field in _NOT_IN_PODMAN:
                entry.pop("valueFrom")
                entry["value"] = _NOT_IN_PODMAN[field]
        container["env"] = env + [{"name": k, "value": v} for k, v in ports.items()]
    return deployment


async def test_the_rendered_deployments_come_up_ready_under_podman_kube_play(
    podman: Podman,
    time_expense_image: str,
    sandbox: Sandbox,
    deployment: Deployment,
    tmp_path: Path,
) -> None:
    env = deployment.env()  # the system tests' settings: sandbox PSA and ERP, API keys
    release = f"kp{secrets.token_hex(4)}"
    podman.releases.append(release)

    # The Secrets the chart reads by reference, as podman secrets (a key -> base64 map).
    contents = {
        f"{release}-db": {"url": env["TANDEM_DATABASE_URL"]},
        f"{release}-mq": {"url": env["TANDEM_AMQP_URL"]},
        f"{release}-auth": {"TANDEM_API_KEYS": env["TANDEM_API_KEYS"]},
        f"{release}-systems": {"TANDEM_ERP_INSTANCES": env["TANDEM_ERP_INSTANCES"],
                               "TANDEM_PSA_INSTANCES": env["TANDEM_PSA_INSTANCES"]},
    }  # fmt: skip
    for name, data in contents.items():
        file = tmp_path / f"{name}.json"
        file.write_text(json.dumps({k: base64.b64encode(v.encode()).decode()
                                    for k, v in data.items()}))  # fmt: skip
        podman("secret", "create", name, str(file))
        podman.secrets.append(name)

    registry, _, rest = time_expense_image.partition("/")  # localhost/tandem/time-expense:test
    repository, tag = rest.rsplit("/", 1)[0], rest.rpartition(":")[2]
    docs = _render(release, {
        "global": {
            "image": {"registry": registry, "repository": repository, "tag": tag},
            "secrets": {"database": {"name": f"{release}-db", "key": "url"},
                        "broker": {"name": f"{release}-mq", "key": "url"},
                        "auth": {"name": f"{release}-auth"}},
            "tracing": {"enabled": False},
        },
        "services": {"project-sync": {"enabled": False}, "time-expense": {
            "secrets": {"systems": {"name": f"{release}-systems"}},
            "env": {"TANDEM_ERP_BY_REGION": env["TANDEM_ERP_BY_REGION"],
                    "TANDEM_LOG_LEVEL": "WARNING", "TANDEM_POLL_INTERVAL_S": "1"},
            "roles": {role: {"replicas": 1} for role in ROLES},
        }},
    })  # fmt: skip

    # What kube play runs: the service's ConfigMap and its Deployments, one port set each.
    config_maps = [d for d in docs if d["kind"] == "ConfigMap" and "dashboard" not in
                   d["metadata"]["name"]]  # fmt: skip
    deployments = {d["metadata"]["labels"]["app.kubernetes.io/component"]: d
                   for d in docs if d["kind"] == "Deployment"}  # fmt: skip
    assert sorted(deployments) == sorted(ROLES)
    api_port, metrics = free_port(), {role: free_port() for role in ROLES}
    for config_map in config_maps:
        for key in ("TANDEM_HTTP_PORT", "TANDEM_WORKER_HTTP_PORT"):
            config_map["data"].pop(key, None)
    for role, workload in deployments.items():
        ports = {"TANDEM_WORKER_HTTP_PORT": str(metrics[role])}
        if role == "api":
            ports["TANDEM_HTTP_PORT"] = str(api_port)
        _on_this_host(workload, ports)
    play = tmp_path / "play.yaml"
    play.write_text(yaml.safe_dump_all([*config_maps, *deployments.values()]))
    podman.played.append(play)
    podman("kube", "play", str(play))

    # Every role's container runs as the chart says, and answers ready.
    containers = {role: f"{workload['metadata']['name']}-pod-0-{role}"
                  for role, workload in deployments.items()}  # fmt: skip
    for role, name in containers.items():
        inspected = json.loads(podman("container", "inspect", name))[0]
        assert inspected["Config"]["User"] == "10001:10001"
        assert inspected["HostConfig"]["ReadonlyRootfs"] is True
        assert inspected["HostConfig"]["CapAdd"] in (None, [])
        assert inspected["Config"]["Cmd"][-1] == ("api" if role == "api" else "worker")

    async with httpx.AsyncClient(timeout=5) as client:

        async def ready(url: str) -> bool:
            try:
                return (await client.get(url)).status_code == 200
            except httpx.TransportError:
                return False

        urls = {"api": f"http://127.0.0.1:{api_port}/readyz"} | {
            f"{role} metrics": f"http://127.0.0.1:{metrics[role]}/readyz"
            for role in ROLES if role != "api"
        }  # fmt: skip
        for what, url in urls.items():
            try:
                await eventually(lambda url=url: ready(url), within=90, what=f"{what} ready")  # type: ignore[misc]
            except AssertionError as late:
                states = podman("ps", "-a", "--format", "{{.Names}} {{.Status}}", check=False)
                logs = {role: podman("logs", "--tail", "20", containers[role], check=False)
                        for role in ROLES}  # fmt: skip
                found = f"{states}; logs: {json.dumps(logs, indent=1)}"
                raise AssertionError(f"{late}; {found}") from None

        # The api serves its /v1 API with the key from the auth Secret; the worker consumes.
        answer = await client.get(f"http://127.0.0.1:{api_port}/v1/parked",
                                  headers={"X-API-Key": API_KEY})  # fmt: skip
        assert answer.status_code == 200, answer.text
    await deployment.wait_consuming(QUEUE, within=60)
