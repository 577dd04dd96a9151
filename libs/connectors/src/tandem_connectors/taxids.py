"""Tax registration numbers (VAT ids) as the ERP adapters store and compare them."""

from __future__ import annotations

import re

__all__ = ["compact_tax_id"]

_SEPARATORS = re.compile(r"[\s./-]+")


def compact_tax_id(tax_id: str) -> str:
    """The number without spaces, dots, dashes or slashes, upper case: how it is stored and
    compared (``"de 123.456.789"`` → ``"DE123456789"``). Its validity is not checked here."""
    return _SEPARATORS.sub("", tax_id).upper()
