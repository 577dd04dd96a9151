"""The control API: change each system's faults at run time and read what was injected."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, cast

from fastapi import APIRouter, Body, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from tandem_sandbox._faults import FaultConfig
from tandem_sandbox._http import SandboxError, parse
from tandem_sandbox._settings import SYSTEMS

if TYPE_CHECKING:
    from tandem_sandbox._sandbox import Sandbox

__all__ = ["OutageRequest", "control_router"]


class OutageRequest(BaseModel):
    """An outage window: starting ``start_in_s`` from now, lasting ``duration_s``."""

    model_config = ConfigDict(extra="forbid")

    start_in_s: float = Field(default=0, ge=0, le=86_400)
    duration_s: float = Field(gt=0, le=86_400)


def _sandbox(request: Request) -> Sandbox:
    return cast("Sandbox", request.app.state.sandbox)


SandboxDep = Annotated["Sandbox", Depends(_sandbox)]


def _system(system: str) -> str:
    if system not in SYSTEMS:
        raise SandboxError(404, "UNKNOWN_SYSTEM", f"no system {system}; one of {list(SYSTEMS)}")
    return system


def _report(sandbox: Sandbox, system: str) -> dict[str, Any]:
    faults = sandbox.faults[system]
    return {
        "system": system,
        "url": sandbox.servers[system].url,
        "up": sandbox.servers[system].up,
        "config": faults.config.model_dump(mode="json"),
        "outages": [window.shown() for window in sandbox.outages[system]],
        "counters": dict(sorted(faults.counters.items())),
    }


def control_router() -> APIRouter:
    """Return the control routes under ``/_sandbox``."""
    router = APIRouter(prefix="/_sandbox", tags=["control"])

    @router.get("/systems")
    async def systems(sandbox: SandboxDep) -> dict[str, Any]:
        """List each system's URL and whether it is up."""
        return {name: {"url": s.url, "up": s.up} for name, s in sandbox.servers.items()}

    @router.get("/faults")
    async def all_faults(sandbox: SandboxDep) -> dict[str, Any]:
        """Read every system's fault configuration, outage windows and counters."""
        return {name: _report(sandbox, name) for name in SYSTEMS}

    @router.get("/faults/{system}")
    async def read_faults(sandbox: SandboxDep, system: str) -> dict[str, Any]:
        """Read one system's fault configuration, outage windows and counters."""
        return _report(sandbox, _system(system))

    @router.put("/faults/{system}")
    async def set_faults(
        sandbox: SandboxDep, system: str, body: Annotated[Any, Body()]
    ) -> dict[str, Any]:
        """Replace a system's fault configuration (reseeds its dice, refills its bucket)."""
        config = parse(FaultConfig, body)
        sandbox.faults[_system(system)].configure(config)
        return _report(sandbox, system)

    @router.delete("/faults/{system}/counters")
    async def reset_counters(sandbox: SandboxDep, system: str) -> dict[str, Any]:
        """Set a system's fault counters back to zero."""
        sandbox.faults[_system(system)].counters.clear()
        return _report(sandbox, system)

    @router.post("/faults/{system}/outages", status_code=202)
    async def add_outage(
        sandbox: SandboxDep, system: str, body: Annotated[Any, Body()]
    ) -> dict[str, Any]:
        """Schedule an outage window: connections refused and reset while it lasts."""
        outage = parse(OutageRequest, body)
        window = sandbox.schedule_outage(
            _system(system), start_in=outage.start_in_s, duration=outage.duration_s
        )
        return window.shown()

    @router.delete("/faults/{system}/outages")
    async def end_outages(sandbox: SandboxDep, system: str) -> dict[str, Any]:
        """End every pending or active outage window of a system now."""
        await sandbox.end_outages(_system(system))
        return _report(sandbox, system)

    return router
