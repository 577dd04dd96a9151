"""``run_worker`` in a real process: SIGTERM sets ``stopping``, main drains, exit code 0."""

import asyncio
import json
import os
import signal
import sys
import textwrap

WORKER = textwrap.dedent(
    """
    import sys
    from tandem_service_kit import ServiceSettings, run_worker

    async def main(resources):
        assert await resources.pool.fetchval("SELECT 1") == 1
        channel = await resources.connection.channel()
        sys.stdout.write("ready\\n")
        sys.stdout.flush()
        await resources.stopping.wait()
        await channel.close()  # drain: finish in-flight work, then return

    sys.exit(run_worker(ServiceSettings(service_name="kit-worker"), main))
    """
)

FAILING_WORKER = textwrap.dedent(
    """
    import sys
    from tandem_service_kit import ServiceSettings, run_worker

    async def main(resources):
        raise RuntimeError("handler bug")

    sys.exit(run_worker(ServiceSettings(service_name="kit-worker"), main))
    """
)

DEADLINE_SECONDS = 30


async def start(code: str, database_url: str, amqp_url: str) -> asyncio.subprocess.Process:
    env = os.environ | {
        "TANDEM_DATABASE_URL": database_url,
        "TANDEM_AMQP_URL": amqp_url,
        "TANDEM_WORKER_HTTP_PORT": "0",  # probes on any free port, never a shared 9000
    }
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        code,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def test_sigterm_stops_the_worker_cleanly(database_url: str, amqp_url: str) -> None:
    process = await start(WORKER, database_url, amqp_url)
    try:
        assert process.stdout is not None
        # The worker has connected to both services and is waiting for work.
        line = await asyncio.wait_for(process.stdout.readline(), DEADLINE_SECONDS)
        assert line == b"ready\n"

        # SIGTERM, as Kubernetes sends it: the worker drains and exits 0.
        process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(process.communicate(), DEADLINE_SECONDS)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()

    assert process.returncode == 0, stderr.decode()
    records = [json.loads(line) for line in stderr.decode().splitlines()]
    assert {record["service"] for record in records} == {"kit-worker"}
    assert any(record["message"] == "SIGTERM received: stopping" for record in records)


async def test_a_failing_main_exits_1_with_the_error_logged(
    database_url: str, amqp_url: str
) -> None:
    process = await start(FAILING_WORKER, database_url, amqp_url)
    _, stderr = await asyncio.wait_for(process.communicate(), DEADLINE_SECONDS)

    assert process.returncode == 1
    assert "handler bug" in stderr.decode()
