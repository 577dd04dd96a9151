"""The sandbox systems' dev image serves the four systems of record and their control API,
hardened as the services run (uid 10001, read-only root filesystem, no capabilities)."""

from __future__ import annotations

import socket
from typing import Any

import httpx

from tandem_sandbox import SYSTEMS
from tandem_testing import PodmanApi, eventually, free_port, hardened


def _free_block(size: int) -> int:
    """A port whose next ``size - 1`` ports are free too (the sandbox takes base + 1..4)."""
    for _ in range(50):
        base = free_port()
        if base + size < 65535 and all(_is_free(base + n) for n in range(1, size)):
            return base
    raise AssertionError("no block of free ports")


def _is_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


async def test_the_sandbox_image_serves_the_systems_of_record(
    podman_api: PodmanApi, sandbox_image: str, database_url: str
) -> None:
    base = _free_block(1 + len(SYSTEMS))
    env = {"TANDEM_DATABASE_URL": database_url, "TANDEM_LOG_LEVEL": "WARNING"}
    container: Any = hardened(podman_api, sandbox_image, ["serve", "--base-port", str(base)], env)
    container.start()
    try:
        async with httpx.AsyncClient(timeout=5) as client:

            async def up() -> bool:
                try:
                    answer = await client.get(f"http://127.0.0.1:{base}/_sandbox/systems")
                except httpx.TransportError:
                    return False
                return answer.status_code == 200 and all(s["up"] for s in answer.json().values())

            await eventually(up, within=60, what="the sandbox's four systems")
            systems = (await client.get(f"http://127.0.0.1:{base}/_sandbox/systems")).json()
            assert sorted(systems) == sorted(SYSTEMS)

            # The PSA keeps what it is given, in the schema the image migrated at start.
            psa = f"http://127.0.0.1:{base + 1 + SYSTEMS.index('psa')}"
            created = await client.post(f"{psa}/v1/projects", json={
                "name": "Image check", "currency": "EUR", "status": "in_progress",
                "open_for_time": True, "open_for_expenses": True, "external_id": "p-image",
            })  # fmt: skip
            assert created.status_code == 201, created.text
            project = created.json()["id"]
            read = await client.get(f"{psa}/v1/projects/{project}")
            assert read.status_code == 200, read.text
            assert read.json()["external_id"] == "p-image"
    finally:
        container.stop()
