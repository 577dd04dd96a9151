"""Typed dependencies of time-expense's routes, from what its composition root wired."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from tandem_service_kit import wired
from time_expense.service_layer.dependencies import Dependencies

__all__ = ["Deps"]

Deps = Annotated[Dependencies, Depends(wired)]
