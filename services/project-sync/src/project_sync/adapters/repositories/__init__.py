"""project-sync's tables behind the service layer's ports (plain SQL on one transaction).

One private module per family of tables: the sagas (``_sagas``), customers and opportunities
(``_commercial``), the reference data (``_reference``), contract approvals (``_approvals``) and
the projects' read model (``_projects``).
"""

from project_sync.adapters.repositories._approvals import SqlApprovals
from project_sync.adapters.repositories._commercial import SqlCustomers, SqlOpportunities
from project_sync.adapters.repositories._projects import SqlProjects
from project_sync.adapters.repositories._reference import SqlReference
from project_sync.adapters.repositories._sagas import SqlSagas

__all__ = [
    "SqlApprovals",
    "SqlCustomers",
    "SqlOpportunities",
    "SqlProjects",
    "SqlReference",
    "SqlSagas",
]
