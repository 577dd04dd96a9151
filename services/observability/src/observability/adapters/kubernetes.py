"""The fleet's workloads from the Kubernetes API: read-only ``list`` of deployments and pods.

The chart labels every object of a service ``app.kubernetes.io/part-of: tandem`` and
``tandem.io/service: <service>``, and a role's Deployment and pods
``app.kubernetes.io/component: <role>``; a Deployment's selector names its pods. The official
client is synchronous: each read runs in a thread, bounded in time. It needs a Role granting
``list`` on ``deployments`` (group ``apps``) and ``pods`` (core) in the namespace.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import urllib3.exceptions
from kubernetes import client as k8s
from kubernetes.config import ConfigException, load_incluster_config

from observability.service_layer.ports import SourceUnavailable, Workload
from observability.settings import Settings

__all__ = ["LABEL_SELECTOR", "KubernetesFleet", "from_settings", "image_version"]

logger = logging.getLogger(__name__)

SERVICE_LABEL = "tandem.io/service"
ROLE_LABEL = "app.kubernetes.io/component"
LABEL_SELECTOR = f"app.kubernetes.io/part-of=tandem,{SERVICE_LABEL}"
"""Every Tandem workload's objects (the migration Job's pods too: no Deployment selects them)."""
_PAGE = 500


class KubernetesFleet:
    """``FleetSource`` over the Kubernetes API of the cluster the service runs in."""

    def __init__(
        self, namespace: str, api_client: k8s.ApiClient | None = None, *, timeout_s: float = 10.0
    ) -> None:
        self.namespace = namespace
        self.timeout_s = timeout_s
        self._api_client = api_client
        self._lock = threading.Lock()

    async def workloads(self) -> list[Workload]:
        """Each role's Deployment with its pods' restarts and image versions, by service."""
        try:
            async with asyncio.timeout(self.timeout_s):
                return await asyncio.to_thread(self._read)
        except TimeoutError:
            raise SourceUnavailable(
                f"the Kubernetes API did not answer within {self.timeout_s:g} s"
            ) from None

    def close(self) -> None:
        """Close the API client's connections (the client is made again when next needed)."""
        with self._lock:
            if self._api_client is not None:
                self._api_client.close()  # type: ignore[no-untyped-call]
                self._api_client = None

    def _client(self) -> k8s.ApiClient:
        with self._lock:
            if self._api_client is None:
                configuration = k8s.Configuration()
                try:
                    load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
                except ConfigException as exc:
                    reason = f"no in-cluster Kubernetes configuration: {exc}"
                    raise SourceUnavailable(reason) from exc
                self._api_client = k8s.ApiClient(configuration)
            return self._api_client

    def _read(self) -> list[Workload]:
        api_client = self._client()
        apps, core = k8s.AppsV1Api(api_client), k8s.CoreV1Api(api_client)
        deployments = self._list(apps.list_namespaced_deployment, "deployments", "apps")
        pods = self._list(core.list_namespaced_pod, "pods", "")
        return sorted(
            (_workload(deployment, pods) for deployment in deployments),
            key=lambda w: (w.service, w.role),
        )

    def _list(self, call: Callable[..., Any], resource: str, group: str) -> list[Any]:
        """Every page of a namespaced list; API and connection failures as SourceUnavailable."""
        items: list[Any] = []
        token: str | None = None
        while True:
            try:
                page = call(
                    self.namespace,
                    label_selector=LABEL_SELECTOR,
                    limit=_PAGE,
                    _continue=token,
                    _request_timeout=self.timeout_s,
                )
            except k8s.ApiException as exc:
                raise SourceUnavailable(self._refusal(exc, resource, group)) from exc
            except (urllib3.exceptions.HTTPError, OSError) as exc:
                logger.info("Kubernetes API unreachable listing %s: %r", resource, exc)
                raise SourceUnavailable(
                    f"the Kubernetes API is unreachable ({type(exc).__name__})"
                ) from exc
            items.extend(page.items or [])
            token = page.metadata.var_continue if page.metadata else None
            if not token:
                return items

    def _refusal(self, exc: k8s.ApiException, resource: str, group: str) -> str:
        where = f"{resource}.{group}" if group else resource
        if exc.status == 403:
            return (
                f"forbidden to list {where} in namespace {self.namespace}: the service "
                f"account needs a Role allowing verb 'list' on resource '{resource}' "
                f"(apiGroup '{group}')"
            )
        if exc.status == 401:
            return "the Kubernetes API refused the service account's token (401)"
        return f"the Kubernetes API answered {exc.status} {exc.reason} listing {where}"


def _workload(deployment: k8s.V1Deployment, pods: Iterable[k8s.V1Pod]) -> Workload:
    meta, spec, status = deployment.metadata, deployment.spec, deployment.status
    name = str(meta.name) if meta else "?"
    labels: Mapping[str, str] = (meta.labels if meta else None) or {}
    selector: Mapping[str, str] = (spec.selector.match_labels if spec else None) or {}
    role = labels.get(ROLE_LABEL, name)
    own = [pod for pod in pods if _selected(pod, selector)]
    return Workload(
        service=labels.get(SERVICE_LABEL, name),
        role=role,
        desired=(spec.replicas if spec else None) or 0,
        ready=(status.ready_replicas if status else None) or 0,
        restarts=sum(_restarts(pod) for pod in own),
        versions=tuple(sorted({v for pod in own for v in _versions(pod, role)})),
    )


def _selected(pod: k8s.V1Pod, selector: Mapping[str, str]) -> bool:
    # An empty selector selects nothing here: the chart's deployments always name their pods.
    labels: Mapping[str, str] = (pod.metadata.labels if pod.metadata else None) or {}
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def _restarts(pod: k8s.V1Pod) -> int:
    statuses = (pod.status.container_statuses if pod.status else None) or []
    return sum(s.restart_count for s in statuses)


def _versions(pod: k8s.V1Pod, role: str) -> set[str]:
    # The role's own container (the chart names it after the role), not injected sidecars.
    containers = pod.spec.containers if pod.spec else []
    own = [c for c in containers if c.name == role] or containers
    return {image_version(c.image) for c in own if c.image}


def image_version(image: str) -> str:
    """An image reference's tag (``1.4.0``), its digest when pinned by one, else ``latest``."""
    if "@" in image:
        return image.rsplit("@", 1)[1]
    name = image.rsplit("/", 1)[-1]
    return name.rsplit(":", 1)[1] if ":" in name else "latest"


def from_settings(settings: Settings) -> KubernetesFleet | None:
    """The fleet of ``TANDEM_KUBERNETES_NAMESPACE`` (in-cluster config); None when unset."""
    if not settings.kubernetes_namespace:
        return None
    return KubernetesFleet(settings.kubernetes_namespace)
