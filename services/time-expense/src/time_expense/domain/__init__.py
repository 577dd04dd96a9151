"""The posting rules of time and expenses: pure, with no I/O (DOMAIN.md §4.1, §4.3, §4.4, §7)."""

from time_expense.domain.errors import PostingRefused
from time_expense.domain.fx import Converted, FxTable
from time_expense.domain.periods import LatePolicy, Placement, place_in_period
from time_expense.domain.rates import RateQuery, ResolvedRate, resolve_bill_rate

__all__ = [
    "Converted",
    "FxTable",
    "LatePolicy",
    "Placement",
    "PostingRefused",
    "RateQuery",
    "ResolvedRate",
    "place_in_period",
    "resolve_bill_rate",
]
