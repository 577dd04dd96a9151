"""The state a system's routes reach through the request: the store and the fault state."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, cast

from fastapi import Depends, Request

from tandem_sandbox._faults import SystemFaults
from tandem_sandbox._store import Store

__all__ = ["AppState", "StateDep"]


@dataclass(frozen=True)
class AppState:
    """What one system's app works with."""

    system: str
    store: Store
    faults: SystemFaults


def _state(request: Request) -> AppState:
    return cast(AppState, request.app.state.sandbox)


StateDep = Annotated[AppState, Depends(_state)]
