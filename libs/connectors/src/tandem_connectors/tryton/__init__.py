"""The Tryton ERP (8.2) over JSON-RPC: the client, and the ERP port's adapter on it."""

from tandem_connectors.tryton._changes import TrytonChangeSource
from tandem_connectors.tryton._client import TrytonClient
from tandem_connectors.tryton._erp import TrytonErp
from tandem_connectors.tryton._wire import from_wire, to_wire

__all__ = ["TrytonChangeSource", "TrytonClient", "TrytonErp", "from_wire", "to_wire"]
