"""project-sync's rules: pure, with no I/O (DOMAIN.md §2.3, §4.6, §4.8, §7.1).

Stage mapping (``stages``), tax registration (``tax``), set-up validation (``setup``), the
statement of work's gates (``sow``), keys (``keys``) and the quote-to-cash saga (``saga``).
"""

from project_sync.domain.errors import ActionRefusedError, ProjectSyncError, UnknownStageError
from project_sync.domain.problems import (
    Fails,
    Outcome,
    Passes,
    Problem,
    ProblemCode,
    Waits,
    outcome_of,
)
from project_sync.domain.setup import CustomerFacts, ProjectSetup, ReferenceData, validate_setup
from project_sync.domain.sow import Sow, check_sow
from project_sync.domain.stages import DEFAULT_STAGE_MAP, StageChange, StageMap, classify
from project_sync.domain.tax import EU_COUNTRIES, check_tax, check_tax_profile, vies_validation

__all__ = [
    "DEFAULT_STAGE_MAP",
    "EU_COUNTRIES",
    "ActionRefusedError",
    "CustomerFacts",
    "Fails",
    "Outcome",
    "Passes",
    "Problem",
    "ProblemCode",
    "ProjectSetup",
    "ProjectSyncError",
    "ReferenceData",
    "Sow",
    "StageChange",
    "StageMap",
    "UnknownStageError",
    "Waits",
    "check_sow",
    "check_tax",
    "check_tax_profile",
    "classify",
    "outcome_of",
    "validate_setup",
    "vies_validation",
]
