"""A deterministic generator of a professional-services firm in canonical entities.

``generate(seed)`` builds the same firm (byte-identical ``to_json``) for the same seed and
arguments: legal entities in the US, UK, Germany, India and Singapore; practices and regions;
consultants with skills and dated cost rates; customers, rate cards, opportunities, contracts,
projects and assignments; and one month of weekly timesheets, daily time, expenses, FX rates and
accounting periods. It reads no clock and touches no global random state.
"""

from tandem_sandbox.scenario._firm import Firm
from tandem_sandbox.scenario._generate import generate
from tandem_sandbox.scenario._summary import summary, to_json

__all__ = ["Firm", "generate", "summary", "to_json"]
