"""Connectors to systems of record over their REST APIs, over ``HttpTarget``: a NetSuite-like
ERP (upsert by ``external_id``, bulk postings), a Kantata-like PSA, a Salesforce-like CRM and a
Workday-like HRIS (records, change feeds, signed webhooks). The sandbox systems
(``services/sandbox``) speak these APIs."""

from tandem_connectors.rest._changes import RecordChanges
from tandem_connectors.rest._crm import RestCrm
from tandem_connectors.rest._erp import RestErp
from tandem_connectors.rest._hris import RestHris
from tandem_connectors.rest._psa import RestPsa

__all__ = ["RecordChanges", "RestCrm", "RestErp", "RestHris", "RestPsa"]
