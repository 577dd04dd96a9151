"""Typed dependencies of staffing-sync's routes, from what its composition root wired."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from staffing_sync.service_layer.dependencies import Dependencies
from tandem_service_kit import wired

__all__ = ["Deps"]

Deps = Annotated[Dependencies, Depends(wired)]
