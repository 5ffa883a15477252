import os
import sys

import pytest

# Test helper modules (federation.py, ...) import as top-level modules.
sys.path.insert(0, os.path.dirname(__file__))

from crawler.store import Store  # noqa: E402
from federation import Federation  # noqa: E402


@pytest.fixture
def fed():
    """A fake federation: many websites on one loopback server (tests/federation.py)."""
    f = Federation()
    yield f
    f.close()


@pytest.fixture
def store(tmp_path):
    """A real on-disk store in a temporary directory."""
    s = Store(tmp_path / "store")
    yield s
    s.close()


@pytest.fixture(autouse=True)
def _no_public_geocoder(monkeypatch):
    """Tests never reach the internet: the node's postcode lookup is off unless a test fakes one."""
    monkeypatch.setenv("HUBNET_NODE_GEOCODER", "off")
