"""Sandbox systems of record (dev and test only): CRM, PSA, HRIS and an HTTP ERP."""

__all__: list[str] = []
