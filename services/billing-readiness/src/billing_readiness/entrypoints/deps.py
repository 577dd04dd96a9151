"""Typed dependencies of billing-readiness's routes, from what its composition root wired."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from billing_readiness.service_layer.dependencies import Dependencies
from tandem_service_kit import wired

__all__ = ["Deps"]

Deps = Annotated[Dependencies, Depends(wired)]
