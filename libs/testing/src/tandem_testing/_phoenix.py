"""A real trace store on this machine: Arize Phoenix, for ``make run`` and tests across services.

No Jaeger, Tempo or OpenTelemetry Collector can be installed here; Phoenix takes OTLP/HTTP at
``<url>/v1/traces``, keeps spans in SQLite in a working directory of its own, shows them in a
web UI and answers them over REST (trace id, span id, parent, attributes; not the resource).
It lives in its own virtualenv, ``<home>/bin/phoenix``, made by ``tools/setup.sh tracing``.

A service exports to it through the standard ``OTEL_*`` variables (``telemetry()``), into one
Phoenix project (the resource attribute ``openinference.project.name``); the messaging
runtime names each span's service in the span attribute ``tandem.service``, so a whole trace
reads in one place. Phoenix takes about 18 s to start: ``start()`` returns at once and
``ready()`` waits, so a caller overlaps the start with its own set-up.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tandem_testing._servers import ServerUnavailable
from tandem_testing._waiting import eventually, free_port

__all__ = ["Phoenix", "PhoenixSpan", "running_phoenix"]

PROJECT = "tandem"
# Phoenix would otherwise fetch fonts, a WASM binary and a docs server from the internet at
# start (unreachable here: warnings, delays) and mount an assistant and an MCP server.
_OFFLINE = {
    "PHOENIX_ALLOW_EXTERNAL_RESOURCES": "false",
    "PHOENIX_TELEMETRY_ENABLED": "false",
    "PHOENIX_DISABLE_AGENT_ASSISTANT": "true",
    "PHOENIX_ENABLE_MCP_SERVER": "false",
}


@dataclass(frozen=True)
class PhoenixSpan:
    """One stored span, as Phoenix's REST API answers it."""

    trace_id: str
    span_id: str
    parent_id: str | None
    name: str
    start_time: str
    attributes: Mapping[str, Any]

    @property
    def service(self) -> str | None:
        """The Tandem service the span ran in (the runtime's ``tandem.service``), if named."""
        value = self.attributes.get("tandem.service")
        return value if isinstance(value, str) and value else None

    @classmethod
    def of(cls, row: Mapping[str, Any]) -> PhoenixSpan:
        """Read one row of ``GET /v1/projects/{project}/spans``."""
        return cls(
            trace_id=row["context"]["trace_id"],
            span_id=row["context"]["span_id"],
            parent_id=row.get("parent_id"),
            name=row["name"],
            start_time=row["start_time"],
            attributes=_flat(row.get("attributes") or {}),
        )


def _flat(attributes: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    # Phoenix may answer dotted keys nested ({"tandem": {"service": ...}}): read both shapes.
    flat: dict[str, Any] = {}
    for key, value in attributes.items():
        if isinstance(value, Mapping):
            flat.update(_flat(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


@dataclass
class Phoenix:
    """A Phoenix process on free 127.0.0.1 ports (``home``: its virtualenv, an absolute
    path), its data in ``working_dir``."""

    home: Path
    working_dir: Path
    port: int = field(default_factory=free_port)
    grpc_port: int = field(default_factory=free_port)
    project: str = PROJECT
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        """The web UI and REST API; OTLP/HTTP spans go to ``<url>/v1/traces``."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        """The file Phoenix logs to."""
        return self.working_dir / "phoenix.log"

    def telemetry(self) -> dict[str, str]:
        """The ``OTEL_*`` settings that make a Tandem process export its spans here (its
        service name stays the kit's, from ``TANDEM_SERVICE_NAME``)."""
        return {
            "OTEL_SDK_DISABLED": "false",
            "OTEL_EXPORTER_OTLP_ENDPOINT": self.url,
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
            "OTEL_RESOURCE_ATTRIBUTES": f"openinference.project.name={self.project}",
            # Exported within 0.2 s: a test reads them soon, and a SIGKILL loses little.
            "OTEL_BSP_SCHEDULE_DELAY": "200",
        }

    def start(self) -> None:
        """Start ``phoenix serve`` and return at once (``ready()`` waits for it)."""
        executable = self.home / "bin" / "phoenix"
        if not executable.exists():
            raise ServerUnavailable(f"no Phoenix in {self.home} (tools/setup.sh tracing)")
        self.working_dir.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            **_OFFLINE,
            "PHOENIX_WORKING_DIR": str(self.working_dir),
            "PHOENIX_HOST": "127.0.0.1",
            "PHOENIX_PORT": str(self.port),
            "PHOENIX_GRPC_PORT": str(self.grpc_port),
        }
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(  # noqa: S603 - the virtualenv's own entry point
                [str(executable), "serve"], env=env, stdout=log, stderr=subprocess.STDOUT
            )

    async def ready(self, within: float = 90.0) -> None:
        """Wait until the REST API answers; ``ServerUnavailable`` if Phoenix exited."""
        async with httpx.AsyncClient(base_url=self.url, timeout=5) as client:

            async def answers() -> bool:
                if self.process is None or self.process.poll() is not None:
                    raise ServerUnavailable(f"Phoenix is not running: {self.log_tail()}")
                try:
                    return (await client.get("/v1/projects")).status_code == 200
                except httpx.TransportError:
                    return False

            await eventually(answers, within=within, what="Phoenix to answer", every=0.2)

    def stop(self) -> None:
        """Stop Phoenix (its data stays in ``working_dir``)."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def log_tail(self, chars: int = 2000) -> str:
        """The end of Phoenix's log, for a failure message."""
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""

    async def spans(
        self,
        *,
        limit: int = 1000,
        trace_id: str | None = None,
        attributes: Mapping[str, str] | None = None,
    ) -> list[PhoenixSpan]:
        """The project's newest spans (at most ``limit``, up to 1,000), of one trace and with
        the given string attribute values if asked; none before the first span arrives."""
        params: list[tuple[str, str | int | float | bool | None]] = [("limit", limit)]
        if trace_id is not None:
            params.append(("trace_id", trace_id))
        # A JSON-quoted value always matches as a string, even one that looks like a number.
        params += [("attribute", f"{k}:{json.dumps(v)}") for k, v in (attributes or {}).items()]
        async with httpx.AsyncClient(base_url=self.url, timeout=10) as client:
            answer = await client.get(f"/v1/projects/{self.project}/spans", params=params)
        if answer.status_code == 404:  # the project is made by its first span
            return []
        answer.raise_for_status()
        return [PhoenixSpan.of(row) for row in answer.json()["data"]]

    async def await_spans(
        self,
        predicate: Callable[[list[PhoenixSpan]], bool],
        *,
        within: float = 30.0,
        what: str = "the spans",
        trace_id: str | None = None,
        attributes: Mapping[str, str] | None = None,
    ) -> list[PhoenixSpan]:
        """Poll ``spans(...)`` until ``predicate`` holds of them; answer them."""
        seen: list[PhoenixSpan] = []

        async def holds() -> bool:
            seen[:] = await self.spans(trace_id=trace_id, attributes=attributes)
            return predicate(seen)

        await eventually(holds, within=within, what=what, every=0.25)
        return seen


@contextlib.asynccontextmanager
async def running_phoenix(
    home: Path, working_dir: Path | None = None, *, wait: bool = True
) -> AsyncIterator[Phoenix]:
    """Start Phoenix from the virtualenv ``home``; yield it (ready unless ``wait`` is false);
    stop it afterwards, removing its working directory unless the caller gave one."""
    directory = working_dir or Path(tempfile.mkdtemp(prefix="tandem-phoenix-"))
    phoenix = Phoenix(home, directory)
    try:
        phoenix.start()
        if wait:
            await phoenix.ready()
        yield phoenix
    finally:
        phoenix.stop()
        if working_dir is None:
            shutil.rmtree(directory, ignore_errors=True)
