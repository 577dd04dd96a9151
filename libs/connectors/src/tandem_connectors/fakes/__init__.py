"""In-memory fakes of the connector ports, for services' unit tests (no network, no database).

They keep the ports' contracts — idempotency keys answer the first record, cross-references are
unique both ways, a closed period refuses postings — and let a test look inside (``lines``,
``calls``) and inject failures (``down``, ``refuse``).
"""

from tandem_connectors.fakes._crm import FakeCrm
from tandem_connectors.fakes._erp import FakeErp, FakeLine
from tandem_connectors.fakes._hris import FakeHris, hris_record
from tandem_connectors.fakes._landing import FakeLanding
from tandem_connectors.fakes._psa import FakePsa
from tandem_connectors.fakes._xref import FakeCrossReferences

__all__ = [
    "FakeCrm",
    "FakeCrossReferences",
    "FakeErp",
    "FakeHris",
    "FakeLanding",
    "FakeLine",
    "FakePsa",
    "hris_record",
]
