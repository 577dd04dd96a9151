"""project-sync: quote-to-cash, from a won opportunity to an active project in ERP and PSA."""

__all__: list[str] = []
