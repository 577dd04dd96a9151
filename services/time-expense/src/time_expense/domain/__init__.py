"""The posting rules of time and expenses: pure, with no I/O (DOMAIN.md §4.1, §4.3, §4.4, §7)."""

from time_expense.domain.errors import PostingRefused
from time_expense.domain.fx import Converted, FxTable
from time_expense.domain.ledger import (
    EntryLedger,
    Post,
    Reverse,
    Stage,
    adjusted,
    approved,
    rejected,
)
from time_expense.domain.periods import LatePolicy, Placement, place_in_period

__all__ = [
    "Converted",
    "EntryLedger",
    "FxTable",
    "LatePolicy",
    "Placement",
    "Post",
    "PostingRefused",
    "Reverse",
    "Stage",
    "adjusted",
    "approved",
    "place_in_period",
    "rejected",
]
