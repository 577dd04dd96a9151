"""The unit tests' world: Acme open for business on fakes (``firm.opened``).

The helper modules beside this file (``fakes``, ``world``, ``firm``...) are imported by their
file names: ``time-expense`` is no Python package name, so mypy names every module here by its
file, and putting this directory on the path makes pytest (``--import-mode=importlib``) agree.
"""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from firm import opened
from world import World


@pytest.fixture
async def acme() -> World:
    """Acme open for business: its companies, Globex, Ada and the USD rate card."""
    return await opened()
