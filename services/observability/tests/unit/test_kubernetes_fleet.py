"""The fleet's workloads through the real Kubernetes client, from recorded API responses.

No API server can run here, so a tiny HTTP server on 127.0.0.1 answers the client's real
requests with responses recorded from the Kubernetes API (``recorded/``): a DeploymentList
and a PodList during a rollout (two image tags, a crash-looping pod, a deployment with 2
desired and 1 ready), a migration Job's pod beside them, and a 403 Status.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from kubernetes import client as k8s

from observability.adapters.kubernetes import (
    LABEL_SELECTOR,
    KubernetesFleet,
    from_settings,
    image_version,
)
from observability.service_layer.ports import FleetSource, SourceUnavailable, Workload
from observability.settings import Settings
from tandem_testing import free_port

RECORDED = Path(__file__).with_name("recorded")
DEPLOYMENTS = "/apis/apps/v1/namespaces/tandem/deployments"
PODS = "/api/v1/namespaces/tandem/pods"


def recorded(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((RECORDED / name).read_text())
    return loaded


Route = Callable[[dict[str, list[str]]], tuple[int, dict[str, Any]]]


@dataclass
class RecordedApi:
    """An HTTP server answering the recorded responses, and the requests it was sent."""

    url: str
    routes: dict[str, Route] = field(default_factory=dict)
    requests: list[tuple[str, dict[str, list[str]]]] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    fleets: list[KubernetesFleet] = field(default_factory=list)

    def answer(self, path: str, body: dict[str, Any], status: int = 200) -> None:
        self.routes[path] = lambda _query: (status, body)

    def fleet(self, timeout_s: float = 10.0) -> KubernetesFleet:
        """A fleet whose real Kubernetes client calls this server."""
        client = k8s.ApiClient(k8s.Configuration(host=self.url))
        self.fleets.append(KubernetesFleet("tandem", client, timeout_s=timeout_s))
        return self.fleets[-1]


@pytest.fixture
def api() -> Iterator[RecordedApi]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    recorded_api = RecordedApi(f"http://127.0.0.1:{server.server_address[1]}")
    server.recorded = recorded_api  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield recorded_api
    finally:
        recorded_api.release.set()
        for fleet in recorded_api.fleets:
            fleet.close()
        server.shutdown()
        server.server_close()
        thread.join(5)


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        recorded_api: RecordedApi = self.server.recorded  # type: ignore[attr-defined]
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        recorded_api.requests.append((url.path, query))
        route = recorded_api.routes.get(url.path)
        status, body = route(query) if route else (404, {"kind": "Status", "code": 404})
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        pass


async def test_workloads_are_read_from_deployments_and_their_pods(api: RecordedApi) -> None:
    api.answer(DEPLOYMENTS, recorded("deployments.json"))
    api.answer(PODS, recorded("pods.json"))
    fleet: FleetSource = api.fleet()  # the adapter is the port's

    workloads = await fleet.workloads()

    assert workloads == [
        # The migration Job's pod (a newer tag, running before the rollout) is no one's.
        Workload("billing-readiness", "api", desired=1, ready=1, restarts=0, versions=("1.5.0",)),
        # One container restarted once (OOMKilled); the istio sidecar's tag is not a version.
        Workload("time-expense", "api", desired=2, ready=2, restarts=1, versions=("1.5.0",)),
        # Mid-rollout: the old pod on 1.4.0, the new one crash-looping on 1.5.0.
        Workload("time-expense", "worker", desired=2, ready=1, restarts=7,
                 versions=("1.4.0", "1.5.0")),
    ]  # fmt: skip
    # Read-only lists, each narrowed to Tandem's workloads by the chart's labels.
    assert [path for path, _ in api.requests] == [DEPLOYMENTS, PODS]
    for _, query in api.requests:
        assert query["labelSelector"] == ["app.kubernetes.io/part-of=tandem,tandem.io/service"]
    assert LABEL_SELECTOR == "app.kubernetes.io/part-of=tandem,tandem.io/service"


async def test_every_page_of_a_long_list_is_read(api: RecordedApi) -> None:
    deployments = recorded("deployments.json")
    first = {**deployments, "items": deployments["items"][:2]}
    first["metadata"] = {"resourceVersion": "4817733", "continue": "eyJ2IjoibWV0YS5rOHMuaW8v"}
    rest = {**deployments, "items": deployments["items"][2:]}

    def paged(query: dict[str, list[str]]) -> tuple[int, dict[str, Any]]:
        return 200, rest if query.get("continue") == ["eyJ2IjoibWV0YS5rOHMuaW8v"] else first

    api.routes[DEPLOYMENTS] = paged
    api.answer(PODS, recorded("pods.json"))

    workloads = await api.fleet().workloads()

    assert [(w.service, w.role) for w in workloads] == [
        ("billing-readiness", "api"),
        ("time-expense", "api"),
        ("time-expense", "worker"),
    ]
    assert [q.get("continue") for p, q in api.requests if p == DEPLOYMENTS] == [
        None,
        ["eyJ2IjoibWV0YS5rOHMuaW8v"],
    ]


async def test_a_403_names_the_permission_the_service_account_lacks(api: RecordedApi) -> None:
    api.answer(DEPLOYMENTS, recorded("forbidden.json"), status=403)
    api.answer(PODS, recorded("pods.json"))

    with pytest.raises(SourceUnavailable) as refused:
        await api.fleet().workloads()

    reason = str(refused.value)
    assert "forbidden" in reason
    assert "'list'" in reason
    assert "'deployments'" in reason
    assert "apiGroup 'apps'" in reason
    assert "namespace tandem" in reason


async def test_a_pods_403_names_the_core_group(api: RecordedApi) -> None:
    api.answer(DEPLOYMENTS, recorded("deployments.json"))
    forbidden = {**recorded("forbidden.json"), "details": {"kind": "pods"}}
    api.answer(PODS, forbidden, status=403)

    with pytest.raises(SourceUnavailable, match=r"'pods' \(apiGroup ''\)"):
        await api.fleet().workloads()


async def test_a_server_error_is_unavailable_with_its_status(api: RecordedApi) -> None:
    api.answer(DEPLOYMENTS, {"kind": "Status", "code": 503, "reason": "ServiceUnavailable"}, 503)

    with pytest.raises(SourceUnavailable, match="answered 503"):
        await api.fleet().workloads()


async def test_an_api_that_does_not_answer_in_time_is_unavailable(api: RecordedApi) -> None:
    def stalled(_query: dict[str, list[str]]) -> tuple[int, dict[str, Any]]:
        api.release.wait(10)
        return 200, recorded("deployments.json")

    api.routes[DEPLOYMENTS] = stalled

    with pytest.raises(SourceUnavailable, match=r"did not answer within 0.3 s"):
        await api.fleet(timeout_s=0.3).workloads()


async def test_an_unreachable_api_is_unavailable() -> None:
    configuration = k8s.Configuration(host=f"http://127.0.0.1:{free_port()}")
    configuration.retries = 0
    fleet = KubernetesFleet("tandem", k8s.ApiClient(configuration))

    with pytest.raises(SourceUnavailable, match="the Kubernetes API is unreachable"):
        await fleet.workloads()
    fleet.close()


async def test_outside_a_cluster_the_fleet_is_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_PORT", raising=False)

    with pytest.raises(SourceUnavailable, match="no in-cluster Kubernetes configuration"):
        await KubernetesFleet("tandem").workloads()


def test_the_fleet_is_read_only_when_a_namespace_is_configured() -> None:
    assert from_settings(Settings(kubernetes_namespace=None)) is None
    fleet = from_settings(Settings(kubernetes_namespace="tandem"))
    assert fleet is not None
    assert fleet.namespace == "tandem"


@pytest.mark.parametrize(
    ("image", "version"),
    [
        ("ghcr.io/acme/tandem/time-expense:1.5.0", "1.5.0"),
        ("registry.local:5000/tandem/time-expense:1.5.0-rc.1", "1.5.0-rc.1"),
        ("registry.local:5000/tandem/time-expense", "latest"),
        ("ghcr.io/acme/tandem/time-expense@sha256:4c3b2a19", "sha256:4c3b2a19"),
        ("ghcr.io/acme/tandem/time-expense:1.5.0@sha256:4c3b2a19", "sha256:4c3b2a19"),
    ],
)
def test_an_image_reference_names_its_tag_or_digest(image: str, version: str) -> None:
    assert image_version(image) == version
