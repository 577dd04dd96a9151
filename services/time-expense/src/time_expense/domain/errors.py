"""Why an approved entry cannot be posted: a business exception with a typed reason."""

from __future__ import annotations

from tandem_contracts.events import PostingFailureReason

__all__ = ["DependencyPending", "PostingRefused"]


class PostingRefused(Exception):
    """The entry breaks a posting rule; ``reason`` is the typed reason finance filters on."""

    def __init__(self, reason: PostingFailureReason, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


class DependencyPending(PostingRefused):
    """The entry waits for something that will arrive (``key`` is released when it does)."""

    def __init__(self, key: str, reason: PostingFailureReason, message: str) -> None:
        super().__init__(reason, message)
        self.key = key
