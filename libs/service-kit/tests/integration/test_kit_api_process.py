"""`python -m <service> api` in a real process: uvicorn serves, gets ready, stops on SIGTERM."""

import asyncio
import json
import os
import signal
import sys
import textwrap

import httpx

from tandem_testing import free_port

API = textwrap.dedent(
    """
    import sys
    from tandem_service_kit import ServiceSettings, create_app, service_main

    def app(settings):
        return create_app(settings, title="kit-api", version="0")

    sys.exit(service_main(["api"], settings_factory=ServiceSettings, app_factory=app))
    """
)

DEADLINE_SECONDS = 30


async def read_until_serving(stream: asyncio.StreamReader) -> list[bytes]:
    """Read log lines until uvicorn says it is listening; return them."""
    lines: list[bytes] = []
    while not lines or b"Uvicorn running on" not in lines[-1]:
        line = await stream.readline()
        assert line, b"".join(lines).decode()  # the process ended before serving
        lines.append(line)
    return lines


async def test_the_api_serves_until_sigterm(database_url: str, amqp_url: str) -> None:
    port = free_port()
    env = os.environ | {
        "TANDEM_SERVICE_NAME": "kit-api",
        "TANDEM_DATABASE_URL": database_url,
        "TANDEM_AMQP_URL": amqp_url,
        "TANDEM_HTTP_PORT": str(port),
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", API, env=env, stderr=asyncio.subprocess.PIPE
    )
    try:
        assert process.stderr is not None
        # The process opens its connections, then listens on the configured port.
        startup = await asyncio.wait_for(read_until_serving(process.stderr), DEADLINE_SECONDS)

        # It reports itself ready against both services.
        async with httpx.AsyncClient(timeout=DEADLINE_SECONDS) as client:
            response = await client.get(f"http://127.0.0.1:{port}/readyz")
        assert response.status_code == 200
        assert response.headers["x-correlation-id"]

        # SIGTERM, as Kubernetes sends it: uvicorn drains, the lifespan closes, exit 0.
        process.send_signal(signal.SIGTERM)
        _, rest = await asyncio.wait_for(process.communicate(), DEADLINE_SECONDS)
        stderr = b"".join(startup) + rest
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()

    assert process.returncode == 0, stderr.decode()
    records = [json.loads(line) for line in stderr.decode().splitlines()]
    assert {record["service"] for record in records} == {"kit-api"}
    assert any("/readyz" in record["message"] for record in records)  # uvicorn's access log
