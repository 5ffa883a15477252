import os
import sys

import pytest

# Test helper modules (federation.py, ...) import as top-level modules.
sys.path.insert(0, os.path.dirname(__file__))

from hubnet.crawler.store.graph import Store  # noqa: E402
from hubnet.testing import Federation  # noqa: E402


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
