"""Domain refusals as the messaging runtime's failure classes, keeping the typed reason."""

from __future__ import annotations

from tandem_contracts.events import PostingFailureReason
from tandem_messaging import DependencyMissing, PermanentError
from time_expense.domain import PostingRefused
from time_expense.domain.errors import DependencyPending

__all__ = ["PostingParked", "PostingWaits", "as_runtime_error", "posting_reason"]


class PostingWaits(DependencyMissing):
    """Parked until ``key`` is satisfied; ``posting_reason`` says what it waits for."""

    def __init__(self, key: str, posting_reason: PostingFailureReason, message: str) -> None:
        super().__init__(key, message)
        self.posting_reason = posting_reason


class PostingParked(PermanentError):
    """Parked for finance with a typed reason."""

    def __init__(self, posting_reason: PostingFailureReason, message: str) -> None:
        super().__init__(posting_reason.value, message)
        self.posting_reason = posting_reason


def as_runtime_error(refused: PostingRefused) -> Exception:
    """The runtime error that parks ``refused`` the right way (waiting or for finance)."""
    if isinstance(refused, DependencyPending):
        return PostingWaits(refused.key, refused.reason, refused.message)
    return PostingParked(refused.reason, refused.message)


def posting_reason(error: BaseException) -> PostingFailureReason:
    """The posting-failure reason of any error that parked a posting."""
    reason = getattr(error, "posting_reason", None)
    if isinstance(reason, PostingFailureReason):
        return reason
    code = getattr(error, "reason", None)
    if code == PostingFailureReason.PERIOD_CLOSED.value:
        return PostingFailureReason.PERIOD_CLOSED
    return PostingFailureReason.ERP_REJECTED
