"""Connectors to the sandbox systems of record (``services/sandbox``): the HTTP ERP
(NetSuite-like, the second ERP flavour) and the PSA (Kantata-like), over ``HttpTarget``."""

from tandem_connectors.sandbox._changes import RecordChanges
from tandem_connectors.sandbox._erp import SandboxErp
from tandem_connectors.sandbox._psa import SandboxPsa

__all__ = ["RecordChanges", "SandboxErp", "SandboxPsa"]
