"""The Tryton ERP (8.2) over JSON-RPC."""

from tandem_connectors.tryton._client import TrytonClient
from tandem_connectors.tryton._wire import from_wire, to_wire

__all__ = ["TrytonClient", "from_wire", "to_wire"]
