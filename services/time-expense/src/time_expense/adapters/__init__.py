"""Adapters: the service's own tables (``store``) and the systems of record (``erp``)."""
