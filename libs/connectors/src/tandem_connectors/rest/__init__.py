"""Connectors to systems of record over their REST APIs: a NetSuite-like ERP (upsert by
``external_id``, bulk postings) and a Kantata-like PSA (records, change feeds, signed webhooks),
over ``HttpTarget``. The sandbox systems (``services/sandbox``) speak these APIs."""

from tandem_connectors.rest._changes import RecordChanges
from tandem_connectors.rest._crm import RestCrm
from tandem_connectors.rest._erp import RestErp
from tandem_connectors.rest._hris import RestHris
from tandem_connectors.rest._psa import RestPsa

__all__ = ["RecordChanges", "RestCrm", "RestErp", "RestHris", "RestPsa"]
