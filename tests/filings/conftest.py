"""Fixtures shared by the filing tests. A module that needs another period or clerk defines
its own fixture of the same name, which takes precedence."""

import pytest

from tests.factories import NANJING, authority_user, prefecture
from tests.filings.builders import open_period


@pytest.fixture
def period():
    """An open period of the demo framework."""
    return open_period()


@pytest.fixture
def nanjing():
    """The authority clerk of 南京 (prefecture)."""
    return authority_user(prefecture(NANJING), first_name="王科长")
