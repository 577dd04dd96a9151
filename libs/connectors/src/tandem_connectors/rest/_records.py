"""Reading the records the REST systems send: what every REST adapter does alike."""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager
from datetime import date
from decimal import Decimal
from typing import Any

from tandem_connectors.errors import UnexpectedResponse
from tandem_contracts import Money

__all__ = ["checked_feed", "decimal_money", "optional_date", "reading"]


def optional_date(value: str | None) -> date | None:
    """An ISO date, or ``None`` when absent."""
    return date.fromisoformat(value) if value else None


def decimal_money(amount: Any, currency: str) -> Money:
    """Money from the wire's decimal string (a JSON number may already have lost its cents)."""
    if not isinstance(amount, str):
        raise TypeError(f"an amount is {type(amount).__name__}, not a decimal string")
    return Money(amount=Decimal(amount), currency=currency)


def checked_feed(system: str, feed: str, feeds: Collection[str]) -> str:
    """``feed`` if the system has it; ``ValueError`` naming those it has."""
    if feed not in feeds:
        raise ValueError(f"the {system} has no feed {feed!r}; it has {sorted(feeds)}")
    return feed


@contextmanager
def reading(system: str, kind: str, record: Mapping[str, Any]) -> Iterator[None]:
    """Raise ``UnexpectedResponse`` for a record the adapter cannot read.

    The message names the record, the error's type and a missing field only: a value in it
    could be personal.
    """
    try:
        yield
    except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
        field = f" {exc}" if isinstance(exc, KeyError) else ""
        message = f"{system} {kind} {record.get('id')!r} unreadable: {type(exc).__name__}{field}"
        raise UnexpectedResponse(message[:500]) from exc
