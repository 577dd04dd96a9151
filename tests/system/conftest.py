import os
import shutil
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from tandem_sandbox import Sandbox, SandboxSettings, run_sandbox
from tandem_testing import in_ci

from .harness import Deployment, deployment_of, migrate


@pytest.fixture
async def sandbox(database_url: str) -> AsyncIterator[Sandbox]:
    await migrate(database_url)
    settings = SandboxSettings(database_url=database_url, base_port=0, webhook_retry_base_s=0.05)
    async with run_sandbox(settings) as running:
        yield running


@pytest.fixture
async def deployment(
    sandbox: Sandbox, database_url: str, amqp_url: str, tmp_path: Path
) -> AsyncIterator[Deployment]:
    deployed = deployment_of(sandbox, database_url, amqp_url, tmp_path)
    try:
        yield deployed
    finally:
        deployed.stop()


def _built_image(root: Path, service: str) -> str:
    """``service``'s image, built by ``docker/images.sh`` (layers cached between runs)."""
    if shutil.which("podman") is None:
        reason = "podman is not installed (tools/setup.sh deploy installs it)"
        if in_ci():
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    env = {**os.environ, "TANDEM_IMAGE_TAG": "test"}
    built = subprocess.run(  # noqa: S603 - the repository's own build script
        [str(root / "docker" / "images.sh"), service],
        cwd=root, env=env, capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    return f"localhost/tandem/{service}:test"


@pytest.fixture(scope="session")
def time_expense_image(request: pytest.FixtureRequest) -> str:
    """time-expense's image, as ``make images`` builds it."""
    return _built_image(request.config.rootpath, "time-expense")


@pytest.fixture(scope="session")
def sandbox_image(request: pytest.FixtureRequest) -> str:
    """The sandbox systems' dev image, as ``make images`` builds it."""
    return _built_image(request.config.rootpath, "sandbox")


@pytest.fixture(scope="session")
def project_sync_image(request: pytest.FixtureRequest) -> str:
    """project-sync's image, as ``make images`` builds it."""
    return _built_image(request.config.rootpath, "project-sync")


@pytest.fixture(scope="session")
def staffing_sync_image(request: pytest.FixtureRequest) -> str:
    """staffing-sync's image, as ``make images`` builds it."""
    return _built_image(request.config.rootpath, "staffing-sync")


@pytest.fixture(scope="session")
def billing_readiness_image(request: pytest.FixtureRequest) -> str:
    """billing-readiness's image, as ``make images`` builds it."""
    return _built_image(request.config.rootpath, "billing-readiness")


@pytest.fixture
def containers() -> Iterator[list[Any]]:
    """Containers a test started (append them): stopped and removed afterwards."""
    started: list[Any] = []
    yield started
    for container in reversed(started):
        container.stop()
