"""project-sync's domain exceptions, one tree: every one is a ``ProjectSyncError``."""

from __future__ import annotations

__all__ = ["ActionRefusedError", "ProjectSyncError", "UnknownStageError"]


class ProjectSyncError(Exception):
    """The root of project-sync's domain exceptions."""


class UnknownStageError(ProjectSyncError):
    """A CRM stage the tenant's stage map does not name: configure it rather than guess."""

    def __init__(self, stage: str) -> None:
        super().__init__(f"stage {stage!r} is not in the stage map")
        self.stage = stage


class ActionRefusedError(ProjectSyncError):
    """An operator action that the saga's state does not allow (an API answers 409)."""

    def __init__(self, action: str, state: str) -> None:
        super().__init__(f"cannot {action} a saga that is {state}")
        self.action = action
        self.state = state
